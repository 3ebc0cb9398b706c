"""What a running task may use, handed to it by dependency injection.

Tasks take `resources: Annotated[TaskResources, TaskiqDepends()]`; the worker puts one
instance into every broker's dependency context. Tasks never build clients themselves, so a
worker process holds one Redis pool however many tasks run, and tests get the same objects.
"""

from __future__ import annotations

import dataclasses
import typing

# Imported at run time, not for type checking only: taskiq's dependency graph reads the type
# hints of `TaskResources.__init__` when it builds a task's graph, and warns if it cannot.
import redis.asyncio as aioredis  # noqa: TC002

from townsquare.core.config.cache import LocalConfigCache
from townsquare.core.config.schemas import GuildConfig  # noqa: TC001
from townsquare.core.discord import DiscordTarget, resolve_discord_target
from townsquare.core.discord_rest import DiscordRest
from townsquare.core.keyspace import Keyspace  # noqa: TC001
from townsquare.core.premium import Gate, PremiumCatalogue
from townsquare.core.process_caches import ProcessCaches
from townsquare.core.settings import Settings  # noqa: TC001

if typing.TYPE_CHECKING:
    import hikari

__all__ = ["DiscordRest", "TaskResources"]


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
    gate: Gate = dataclasses.field(init=False)
    """The premium gate: may a guild have more of a limit (core/premium.py)."""
    caches: ProcessCaches = dataclasses.field(default_factory=ProcessCaches)
    """The features' per-process caches (core/process_caches.py)."""

    def __post_init__(self) -> None:
        catalogue = PremiumCatalogue(self.settings.premium)
        object.__setattr__(self, "gate", Gate(self.redis, self.keyspace, catalogue))

    async def discord_rest(self) -> hikari.api.RESTClient:
        """The bot's REST client for :attr:`discord` (or the resolved target)."""
        return await self.rest.client(self.discord or resolve_discord_target(self.settings))

    async def guild_config(self, guild_id: int) -> GuildConfig:
        """The guild's configuration, through this worker's :attr:`configs`."""
        return await self.configs.get(
            self.redis, self.keyspace, guild_id, self.settings.guild_defaults
        )
