"""The assistant's end-to-end harness (a pytest plugin: fixture `assistant`): settings whose
Discord is the test's sandbox and whose Gemini is the sandbox's loopback Gemini, a worker on
the `ai` pipeline, knowledge-base documents, and the loopback's control API (latency,
faults, the requests it received)."""

from __future__ import annotations

import contextlib
import dataclasses
import typing

import pytest

from tests.support.discord import Answer
from tests.support.sandbox import control
from tests.support.waiting import wait_until
from tests.support.workers import running_worker
from tests.support.world import demo_guild
from tests.support.xp import configure
from townsquare.core.config.service import load_guild_config
from townsquare.core.discord import sandbox_info_path, write_sandbox_info
from townsquare.core.guilds.service import ensure_guild
from townsquare.core.premium import Gate, PremiumCatalogue
from townsquare.core.settings import load_settings
from townsquare.features.assistant.domain.config import AISection
from townsquare.features.assistant.domain.knowledge import DocumentInput, create_document
from townsquare.features.assistant.domain.service import assistant_for
from townsquare.tasks.registry import load_tasks

if typing.TYPE_CHECKING:
    from pathlib import Path

    import aiohttp
    import redis.asyncio as aioredis

    from tests.support.discord import Discord
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.features.assistant.domain.ask import Assistant
    from townsquare.features.assistant.domain.models import KnowledgeDocument
    from townsquare.sandbox import Sandbox
    from townsquare.sandbox.world.models import Message

__all__ = ["RULES", "WITHIN", "AssistantHarness", "answered", "assistant_settings"]

WITHIN: typing.Final = 45.0

RULES: typing.Final = """# Server rules

## Links
Do not post invite links to other servers. Links to videos go in #media.

## Spam
No spam: one message is enough. Repeated messages are deleted by the moderators.
"""


def assistant_settings(sandbox: Sandbox, tmp_path: Path, **ai: str) -> Settings:
    """Settings whose Discord is `sandbox` (its `sandbox.json`) and whose Gemini is its
    loopback, with `ai` overrides (`timeout_seconds="1"`)."""
    root = sandbox.info.rest_url.rsplit("/api/", 1)[0]
    environ = {
        "TOWNSQUARE__PATHS__VAR_DIR": str(tmp_path),
        "TOWNSQUARE__AI__ENABLED": "true",
        "TOWNSQUARE__AI__GEMINI_API_KEY": "loopback-test-key",
        "TOWNSQUARE__AI__BASE_URL": root + "/gemini/",
        # Retries of the `ai` pipeline within a test's patience.
        "TOWNSQUARE__TASKS__AI__BACKOFF_BASE_SECONDS": "0.1",
        "TOWNSQUARE__TASKS__AI__BACKOFF_MAX_SECONDS": "0.2",
    }
    environ |= {f"TOWNSQUARE__AI__{key.upper()}": value for key, value in ai.items()}
    settings = load_settings(environ=environ, env_file=None)
    write_sandbox_info(sandbox_info_path(settings), sandbox.info.as_json())
    return settings


@dataclasses.dataclass(slots=True)
class AssistantHarness:
    sandbox: Sandbox
    http: aiohttp.ClientSession
    redis: aioredis.Redis
    redis_url: str
    keyspace: Keyspace
    tmp_path: Path

    @property
    def guild_id(self) -> int:
        return demo_guild(self.sandbox).id

    def settings(self, **ai: str) -> Settings:
        return assistant_settings(self.sandbox, self.tmp_path, **ai)

    def worker(self, **ai: str) -> contextlib.AbstractAsyncContextManager[typing.Any]:
        """A real worker on the `ai` pipeline, with these settings, for a block."""
        return running_worker(
            self.settings(**ai), self.redis_url, self.keyspace, load_tasks(), ("ai",)
        )

    async def enable(self, **section: object) -> None:
        """Turn the assistant on in the demo guild, with `section` changes."""
        await ensure_guild(self.guild_id)
        await configure(self.guild_id, ai={"enabled": True, **section})

    def service(self, **ai: str) -> Assistant:
        """The assistant as a worker builds it (these settings, the premium gate)."""
        settings = self.settings(**ai)
        gate = Gate(self.redis, self.keyspace, PremiumCatalogue(settings.premium))
        return assistant_for(settings, self.redis, self.keyspace, gate)

    async def section(self) -> AISection:
        """The demo guild's stored `ai` section."""
        defaults = self.settings().guild_defaults
        return (await load_guild_config(self.guild_id, defaults)).config.section(AISection)

    async def document(
        self, title: str, body: str, guild_id: int | None = None
    ) -> KnowledgeDocument:
        return await create_document(
            guild_id or self.guild_id, DocumentInput(title, body), source="written", created_by=1
        )

    async def gemini(self, **body: object) -> dict[str, typing.Any]:
        """Configure the loopback Gemini (`latency_seconds`, `faults`, `clear_requests`)."""
        return await control(self.http, self.sandbox.info, "POST", "/gemini", body)

    async def model_requests(self, method: str) -> list[dict[str, typing.Any]]:
        """The bodies the loopback Gemini received for `method` (`generateContent`)."""
        state = await control(self.http, self.sandbox.info, "GET", "/gemini")
        return [r["body"] for r in state["requests"] if r["method"] == method]


@pytest.fixture
def assistant(
    sandbox: Sandbox,
    http: aiohttp.ClientSession,
    redis: aioredis.Redis,
    redis_url: str,
    keyspace: Keyspace,
    orm: None,
    tmp_path: Path,
) -> AssistantHarness:
    """The test's :class:`AssistantHarness` (its sandbox, Redis namespace and PostgreSQL)."""
    return AssistantHarness(sandbox, http, redis, redis_url, keyspace, tmp_path)


async def answered(discord: Discord, interaction_id: int) -> Answer:
    """The bot's answer to a deferred interaction once a worker has filled it in: the edited
    response, or (when the response was deleted for a private refusal) the follow-up."""
    world = discord.sandbox.world

    def message() -> Message | None:
        interaction = world.interactions[interaction_id]
        response = world.messages.get(interaction.response_message_id or 0)
        if response is not None and response.content:
            return response
        if interaction.followup_message_ids and response is None:
            return world.messages[interaction.followup_message_ids[-1]]
        return None

    await wait_until(lambda: message() is not None, within=WITHIN, what="the answer filled in")
    found = message()
    assert found is not None
    return Answer(discord.sandbox, world.interactions[interaction_id], found)
