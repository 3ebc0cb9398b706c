"""The assistant in the sandbox's demo guild (`Feature.demo`, run by `townsquare up`; also
`townsquare assistant demo`): its rules and FAQ as documents, and the assistant on.

Idempotent: a document already there (by title) is kept as it is, and the assistant is
turned on only in the run that adds a missing document, so a guild whose managers turned it
off (or edited the documents) stays as they left it. A run killed midway is completed by the
next: the section is switched on before the documents are written, so "a document is missing"
still holds until the last one is in.
"""

from __future__ import annotations

import typing
from pathlib import Path

from townsquare.core.audit.service import Actor
from townsquare.core.config.cache import drop_config
from townsquare.core.config.service import load_guild_config, update_guild_config
from townsquare.core.guilds.service import ensure_guild
from townsquare.features.assistant.domain.config import AISection
from townsquare.features.assistant.domain.jobs import queue_embedding
from townsquare.features.assistant.domain.knowledge import DocumentInput, create_document
from townsquare.features.assistant.domain.models import KnowledgeDocument

if typing.TYPE_CHECKING:
    from townsquare.core.features import DemoContext

__all__ = ["DEMO", "DEMO_DOCUMENTS", "seed_demo"]

DEMO_DOCUMENTS: typing.Final = (("Server rules", "rules.md"), ("FAQ", "faq.md"))
"""The demo guild's knowledge base: title and file in the feature's `demo/` folder."""
_FOLDER: typing.Final = Path(__file__).resolve().parents[1] / "demo"


async def seed_demo(context: DemoContext) -> str | None:
    """Add the missing demo documents (and turn the assistant on with them); the line to
    print, or None when nothing was missing."""
    guild_id = context.guild_id
    await ensure_guild(guild_id)
    missing = [
        (title, name)
        for title, name in DEMO_DOCUMENTS
        if not await KnowledgeDocument.exists(guild_id=guild_id, title=title)
    ]
    if not missing:
        return None
    defaults = context.settings.guild_defaults
    current = await load_guild_config(guild_id, defaults)
    section = current.config.section(AISection)
    if not section.enabled:
        await update_guild_config(
            guild_id,
            current.config.with_section(section.model_copy(update={"enabled": True})),
            expected_version=current.version,
            actor=Actor.system("demo"),
            defaults=defaults,
        )
        await drop_config(context.redis, context.keyspace, guild_id)
    for title, name in missing:
        body = (_FOLDER / name).read_text("utf-8")
        await create_document(
            guild_id, DocumentInput(title, body), source="written", created_by=None
        )
    await queue_embedding(context.redis, context.keyspace)
    return (
        f"assistant: on in guild {guild_id}, with its rules and FAQ "
        '(mention the bot: "what are the rules about links?")'
    )


DEMO: typing.Final = seed_demo
