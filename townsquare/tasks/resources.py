"""What a running task may use, handed to it by dependency injection.

Tasks take `resources: Annotated[TaskResources, TaskiqDepends()]`; the worker puts one
instance into every broker's dependency context. Tasks never build clients themselves, so a
worker process holds one Redis pool however many tasks run, and tests get the same objects.
"""

from __future__ import annotations

import dataclasses

# Imported at run time, not for type checking only: taskiq's dependency graph reads the type
# hints of `TaskResources.__init__` when it builds a task's graph, and warns if it cannot.
import redis.asyncio as aioredis  # noqa: TC002

from townsquare.core.discord import DiscordTarget  # noqa: TC001
from townsquare.core.keyspace import Keyspace  # noqa: TC001
from townsquare.core.settings import Settings  # noqa: TC001

__all__ = ["TaskResources"]


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
