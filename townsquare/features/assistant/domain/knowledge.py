"""Writing the knowledge base: documents in, passages rebuilt, in one transaction each.

A document and its passages change together (`in_transaction`): a search never sees a
document with half its passages, and a process killed mid-edit leaves the old version whole.
Written and uploaded documents count against the tier's `assistant.documents` limit (checked
by the caller through the premium gate, see :mod:`.budget`); indexed channel messages do not.
"""

from __future__ import annotations

import dataclasses
import json
import typing

from tortoise import connections
from tortoise.transactions import in_transaction

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

from townsquare.core.guilds.models import Guild
from townsquare.features.assistant.domain.chunking import chunk_markdown
from townsquare.features.assistant.domain.models import KnowledgeChunk, KnowledgeDocument

__all__ = [
    "MAX_BODY_CHARACTERS",
    "MAX_TITLE_CHARACTERS",
    "DocumentError",
    "DocumentInput",
    "counted_documents",
    "create_document",
    "delete_document",
    "forget_message",
    "index_message",
    "indexed_channels",
    "jump_link",
    "sync_channel",
    "update_document",
]

MAX_TITLE_CHARACTERS: typing.Final = 200
MAX_BODY_CHARACTERS: typing.Final = 200_000
"""About 50,000 tokens: a long handbook; larger files are refused with a reason."""


class DocumentError(ValueError):
    """A document that cannot be stored as given (the message says why)."""


@dataclasses.dataclass(frozen=True, slots=True)
class DocumentInput:
    title: str
    body: str

    def checked(self) -> DocumentInput:
        # Browsers send a textarea's lines as CRLF; the passages and the page want LF.
        title, body = self.title.strip(), self.body.replace("\r\n", "\n").strip()
        if not title:
            raise DocumentError("a document needs a title")
        if len(title) > MAX_TITLE_CHARACTERS:
            raise DocumentError(f"the title is longer than {MAX_TITLE_CHARACTERS} characters")
        if not body:
            raise DocumentError("the document is empty")
        if len(body) > MAX_BODY_CHARACTERS:
            raise DocumentError(
                f"the document is longer than {MAX_BODY_CHARACTERS:,} characters; split it"
            )
        return DocumentInput(title, body)


def jump_link(guild_id: int, channel_id: int, message_id: int) -> str:
    """Discord's link to a message."""
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


async def counted_documents(guild_id: int) -> int:
    """Documents of the guild that count against `assistant.documents`."""
    return await KnowledgeDocument.filter(guild_id=guild_id).exclude(source="message").count()


async def _rebuild_chunks(document: KnowledgeDocument, connection: typing.Any) -> None:
    await KnowledgeChunk.filter(document_id=document.id).using_db(connection).delete()
    passages = chunk_markdown(document.body)
    await KnowledgeChunk.bulk_create(
        [
            KnowledgeChunk(
                document_id=document.id,
                guild_id=document.guild_id,  # type: ignore[attr-defined]
                ordinal=ordinal,
                heading=passage.heading,
                text=passage.text,
                tokens=passage.tokens,
            )
            for ordinal, passage in enumerate(passages)
        ],
        using_db=connection,
    )


async def create_document(
    guild_id: int, given: DocumentInput, *, source: str, created_by: int | None
) -> KnowledgeDocument:
    """Store a written or uploaded document and its passages (the guild row is made if new)."""
    document_input = given.checked()
    async with in_transaction() as connection:
        await Guild.get_or_create(id=guild_id, using_db=connection)
        document = await KnowledgeDocument.create(
            guild_id=guild_id,
            title=document_input.title,
            body=document_input.body,
            source=source,
            created_by=created_by,
            using_db=connection,
        )
        await _rebuild_chunks(document, connection)
    return document


async def update_document(
    guild_id: int, document_id: int, given: DocumentInput
) -> KnowledgeDocument | None:
    """Replace a document's title and text and rebuild its passages; None when it is not the
    guild's."""
    document_input = given.checked()
    async with in_transaction() as connection:
        document = (
            await KnowledgeDocument.filter(id=document_id, guild_id=guild_id)
            .exclude(source="message")
            .using_db(connection)
            .select_for_update()
            .first()
        )
        if document is None:
            return None
        document.title, document.body = document_input.title, document_input.body
        document.version += 1
        await document.save(using_db=connection)
        await _rebuild_chunks(document, connection)
    return document


async def delete_document(guild_id: int, document_id: int) -> bool:
    """Delete a document and its passages; False when it is not the guild's."""
    deleted = await KnowledgeDocument.filter(id=document_id, guild_id=guild_id).delete()
    return deleted > 0


async def index_message(
    guild_id: int, channel_id: int, message_id: int, title: str, content: str
) -> None:
    """Index (or re-index, after an edit) one message of an indexed channel."""
    body = content.strip()[:MAX_BODY_CHARACTERS]
    if not body:
        await forget_message(guild_id, message_id)
        return
    async with in_transaction() as connection:
        await Guild.get_or_create(id=guild_id, using_db=connection)
        document, created = await KnowledgeDocument.get_or_create(
            guild_id=guild_id,
            message_id=message_id,
            defaults={
                "title": title[:MAX_TITLE_CHARACTERS],
                "body": body,
                "source": "message",
                "channel_id": channel_id,
                "url": jump_link(guild_id, channel_id, message_id),
            },
            using_db=connection,
        )
        if not created:
            if document.body == body:
                return
            document.body = body
            document.version += 1
            await document.save(using_db=connection)
        await _rebuild_chunks(document, connection)


async def forget_message(guild_id: int, *message_ids: int) -> None:
    """Remove deleted (or emptied) messages from the knowledge base."""
    await KnowledgeDocument.filter(guild_id=guild_id, message_id__in=message_ids).delete()


async def sync_channel(
    guild_id: int,
    channel_id: int,
    title: str,
    messages: Sequence[tuple[int, str]],
    *,
    complete: bool,
) -> int:
    """Bring an indexed channel's documents in line with its latest `messages` (id, text):
    new and edited ones indexed, and those gone from the channel forgotten. `complete`: the
    messages are the channel's whole history (else only ids from the oldest given on are
    compared). Returns how many documents were forgotten."""
    for message_id, content in messages:
        await index_message(guild_id, channel_id, message_id, title, content)
    present = {message_id for message_id, _ in messages}
    stale = KnowledgeDocument.filter(guild_id=guild_id, channel_id=channel_id, source="message")
    if not complete and present:
        stale = stale.filter(message_id__gte=min(present))
    stored = typing.cast("list[int]", await stale.values_list("message_id", flat=True))
    gone = [message_id for message_id in stored if message_id not in present]
    if gone:
        await KnowledgeDocument.filter(guild_id=guild_id, message_id__in=gone).delete()
    return len(gone)


_INDEXED_CHANNELS = """
SELECT guild_id, document -> 'ai' -> 'knowledge_channel_ids' AS channel_ids
FROM guild_configs
WHERE jsonb_typeof(document -> 'ai' -> 'knowledge_channel_ids') = 'array'
  AND jsonb_array_length(document -> 'ai' -> 'knowledge_channel_ids') > 0
ORDER BY guild_id
"""


async def indexed_channels() -> list[tuple[int, list[int]]]:
    """Every guild with indexed channels, and those channels (from the stored configurations;
    a guild that never saved one has none)."""
    rows = await connections.get("default").execute_query_dict(_INDEXED_CHANNELS)
    found = []
    for row in rows:
        channel_ids = row["channel_ids"]
        if isinstance(channel_ids, str):
            channel_ids = json.loads(channel_ids)
        found.append((int(row["guild_id"]), [int(c) for c in channel_ids]))
    return found
