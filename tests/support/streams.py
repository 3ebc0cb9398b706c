"""Live alerts end to end (a pytest plugin: fixture `streams`): the sandbox with its loopback
Twitch, Kick and YouTube, the HTTP service on a known port (its public URL is the platforms'
callback), a worker on the `jobs` pipeline, and helpers to add feeds, drive the loopback
creators and read the cards in the sandbox's channels."""

from __future__ import annotations

import contextlib
import dataclasses
import typing

import pytest

from tests.support.bot import SERVICE_TOKEN
from tests.support.sandbox import control
from tests.support.services import serving
from tests.support.waiting import wait_until
from tests.support.workers import running_worker
from tests.support.world import channel_named, demo_guild, role_named
from tests.support.xp import wait_drained
from townsquare.core.discord import sandbox_info_path, write_sandbox_info
from townsquare.core.events import encode_job
from townsquare.core.processes import free_port
from townsquare.core.settings import load_settings
from townsquare.features.streams.domain.models import Creator, SubscriptionState
from townsquare.http import create_app
from townsquare.tasks.registry import load_tasks

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import aiohttp
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.sandbox import Sandbox
    from townsquare.sandbox.world.models import Guild, Message

__all__ = ["WITHIN", "Streams", "streams"]

WITHIN: typing.Final = 30.0


@dataclasses.dataclass(frozen=True, slots=True)
class Streams:
    sandbox: Sandbox
    http: aiohttp.ClientSession
    redis: aioredis.Redis
    keyspace: Keyspace
    settings: Settings
    url: str
    """The HTTP service's base URL (also its public URL: the webhooks' callbacks)."""

    @property
    def guild_id(self) -> int:
        return demo_guild(self.sandbox).id

    def guild(self, guild_id: int | None = None) -> Guild:
        """The sandbox guild `guild_id` (the demo guild by default)."""
        return self.sandbox.world.guilds[guild_id or self.guild_id]

    def channel(self, name: str, guild_id: int | None = None) -> int:
        return channel_named(self.guild(guild_id), name)

    def role(self, name: str, guild_id: int | None = None) -> int:
        return role_named(self.guild(guild_id), name)

    async def api(
        self, method: str, path: str, body: dict[str, typing.Any] | None = None
    ) -> tuple[int, typing.Any]:
        """The internal API (as `/alerts` calls it), under `/internal/v1`."""
        headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
        async with self.http.request(
            method, f"{self.url}/internal/v1{path}", json=body, headers=headers
        ) as answer:
            return answer.status, await answer.json(content_type=None)

    async def add_feed(
        self,
        platform: str,
        creator: str,
        channel: str,
        role: str | None = None,
        *,
        guild_id: int | None = None,
        **extra: object,
    ) -> dict[str, typing.Any]:
        """Add a feed as `/alerts add` does (in the demo guild unless `guild_id` names another);
        waits until its subscription is confirmed."""
        guild_id = guild_id or self.guild_id
        body = {
            "platform": platform,
            "creator": creator,
            "channel_id": self.channel(channel, guild_id),
            "role_id": self.role(role, guild_id) if role else None,
            "actor_id": 1,
            "actor_name": "mayor",
            **extra,
        }
        status, feed = await self.api("POST", f"/guilds/{guild_id}/stream-feeds", body)
        assert status == 201, feed
        if platform != "kick":  # Kick confirms a subscription by its first delivery only
            await self.confirmed(platform, feed["creator"])
        return typing.cast("dict[str, typing.Any]", feed)

    async def run(self, task: str, *args: typing.Any) -> None:
        """Queue `task` as the scheduler would, and wait until the pipeline has run it."""
        await self.redis.xadd(
            self.keyspace.key("stream", "jobs"), {"data": encode_job(task, *args)}
        )
        await self.settled()

    async def confirmed(self, platform: str, login: str) -> None:
        async def enabled() -> bool:
            creator = await Creator.get_or_none(platform=platform, login=login)
            return creator is not None and creator.state is SubscriptionState.ENABLED

        await wait_until(enabled, within=WITHIN, what=f"{platform} {login} confirmed")
        if platform == "twitch":  # and Twitch has seen both challenges answered
            twitch = self.sandbox.platforms.twitch
            user_id = twitch.creators[login].user_id

            def verified() -> bool:
                mine = [s for s in twitch.subscriptions.values() if s.user_id == user_id]
                return len(mine) == 2 and all(s.status == "enabled" for s in mine)

            await wait_until(verified, within=WITHIN, what=f"twitch verified {login}")

    async def control(
        self, path: str, body: dict[str, typing.Any] | None = None, status: int = 200
    ) -> dict[str, typing.Any]:
        """The loopback platforms' control API (`/_sandbox/platforms/...`)."""
        return await control(
            self.http, self.sandbox.info, "POST", f"/platforms{path}", body, status
        )

    def cards(self, channel: str, guild_id: int | None = None) -> list[Message]:
        """The bot's messages in the channel, oldest first."""
        channel_id = self.channel(channel, guild_id)
        return sorted(
            (m for m in self.sandbox.world.messages.values() if m.channel_id == channel_id),
            key=lambda m: m.id,
        )

    async def wait_cards(
        self, channel: str, count: int, within: float = WITHIN, guild_id: int | None = None
    ) -> list[Message]:
        await wait_until(
            lambda: len(self.cards(channel, guild_id)) >= count,
            within=within,
            what=f"{count} cards",
        )
        return self.cards(channel, guild_id)

    async def alerts(self) -> list[str]:
        """The operator alerts' messages, oldest first."""
        entries = await self.redis.xrange(self.keyspace.key("alerts"))
        return [fields[b"message"].decode() for _, fields in entries]

    async def settled(self) -> None:
        """Every delivery answered and the jobs pipeline drained."""

        def answered() -> bool:
            return all(d.statuses for d in self.sandbox.platforms.deliverer.sent)

        await wait_until(answered, within=WITHIN, what="deliveries answered")
        await wait_drained(self.redis, self.keyspace, "jobs", within=WITHIN)


@pytest.fixture
async def streams(
    sandbox: Sandbox,
    http: aiohttp.ClientSession,
    redis: aioredis.Redis,
    redis_url: str,
    database_url: str,
    keyspace: Keyspace,
    orm: None,
    tmp_path: Path,
) -> AsyncIterator[Streams]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = load_settings(
        environ={
            "TOWNSQUARE__PATHS__VAR_DIR": str(tmp_path),
            "TOWNSQUARE__REDIS__NAMESPACE": keyspace.namespace,
            "TOWNSQUARE__HTTP__SERVICE_TOKEN": SERVICE_TOKEN,
            "TOWNSQUARE__HTTP__PUBLIC_URL": url,
        },
        env_file=None,
    )
    write_sandbox_info(sandbox_info_path(settings), sandbox.info.as_json())
    app = create_app(settings, redis_url, database_url, keyspace, discord=None)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(serving(app, port))
        await stack.enter_async_context(
            running_worker(settings, redis_url, keyspace, load_tasks(), ("jobs",))
        )
        yield Streams(sandbox, http, redis, keyspace, settings, url)
