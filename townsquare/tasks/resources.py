"""What a running task may use, handed to it by dependency injection.

Tasks take `resources: Annotated[TaskResources, TaskiqDepends()]`; the worker puts one
instance into every broker's dependency context. Tasks never build clients themselves, so a
worker process holds one Redis pool however many tasks run, and tests get the same objects.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools

import hikari

# Imported at run time, not for type checking only: taskiq's dependency graph reads the type
# hints of `TaskResources.__init__` when it builds a task's graph, and warns if it cannot.
import redis.asyncio as aioredis  # noqa: TC002

from townsquare.core.config.cache import LocalConfigCache
from townsquare.core.config.schemas import GuildConfig  # noqa: TC001
from townsquare.core.discord import DiscordTarget, resolve_discord_target
from townsquare.core.keyspace import Keyspace  # noqa: TC001
from townsquare.core.settings import Settings  # noqa: TC001

__all__ = ["DiscordRest", "TaskResources"]


@functools.cache
def _http_settings() -> hikari.impl.HTTPSettings:
    # Each HTTPSettings builds an SSL context (loading the CA bundle, ~25 ms of CPU): once
    # per process.
    return hikari.impl.HTTPSettings()


class DiscordRest:
    """One hikari `RESTApp` and bot client per worker process, started on first use.

    A level-up job then costs its requests over a kept-alive connection, not a new session
    and TCP connection each. The target (settings, or the sandbox's file) is resolved on every
    use, and a changed one (a restarted sandbox) replaces the client. The worker closes it at
    shutdown.
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._key: tuple[str, str] | None = None
        self._app: hikari.RESTApp | None = None
        self._client: hikari.impl.RESTClientImpl | None = None

    async def client(self, target: DiscordTarget) -> hikari.api.RESTClient:
        """The bot client for `target`, started (or replaced) if needed."""
        key = (target.rest_url, target.token.get_secret_value())
        if self._client is not None and self._key == key:
            return self._client
        async with self._lock:
            if self._client is None or self._key != key:
                await self._close()
                app = hikari.RESTApp(url=target.rest_url, http_settings=_http_settings())
                await app.start()
                self._app = app
                client = app.acquire(key[1], hikari.TokenType.BOT)
                client.start()
                self._client, self._key = client, key
            return self._client

    async def close(self) -> None:
        async with self._lock:
            await self._close()

    async def _close(self) -> None:
        client, app = self._client, self._app
        self._client = self._app = self._key = None
        if client is not None:
            await client.close()
        if app is not None:
            await app.close()


@dataclasses.dataclass(frozen=True, slots=True)
class TaskResources:
    """Shared clients and configuration of one worker process."""

    settings: Settings
    keyspace: Keyspace
    """Builds every Redis key a task touches."""
    redis: aioredis.Redis
    """The worker's Redis client (its own pool, separate from the brokers' stream reads)."""
    discord: DiscordTarget | None = None
    """Where Discord REST is; None: resolved from the settings (or the sandbox's file) on use."""
    rest: DiscordRest = dataclasses.field(default_factory=DiscordRest)
    """The process's Discord REST client (closed by the worker at shutdown)."""
    configs: LocalConfigCache = dataclasses.field(default_factory=LocalConfigCache)
    """This worker's short-lived copies of guild configurations (in front of Redis's cache)."""

    async def discord_rest(self) -> hikari.api.RESTClient:
        """The bot's REST client for :attr:`discord` (or the resolved target)."""
        return await self.rest.client(self.discord or resolve_discord_target(self.settings))

    async def guild_config(self, guild_id: int) -> GuildConfig:
        """The guild's configuration, through this worker's :attr:`configs`."""
        return await self.configs.get(
            self.redis, self.keyspace, guild_id, self.settings.guild_defaults
        )
