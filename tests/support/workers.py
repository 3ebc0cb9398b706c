"""A real worker in the test's event loop, and settings for it."""

from __future__ import annotations

import asyncio
import contextlib
import typing

from townsquare.core.settings import load_settings
from townsquare.tasks.worker import run_worker

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.tasks.registry import TaskRegistry

__all__ = ["running_worker", "settings_with"]


def settings_with(**overrides: object) -> Settings:
    """Default settings with `tasks` keys overridden, e.g. `jobs__max_attempts=4`."""
    environ = {f"TOWNSQUARE__TASKS__{key.upper()}": str(value) for key, value in overrides.items()}
    return load_settings(environ=environ, env_file=None)


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings,
    redis_url: str,
    keyspace: Keyspace,
    registry: TaskRegistry,
    pipelines: Sequence[str] = ("jobs",),
) -> AsyncIterator[asyncio.Task[None]]:
    """A real worker in this event loop, stopped cleanly (and checked for errors) on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_worker(settings, redis_url, keyspace, pipelines, shutdown=stop, registry=registry)
    )
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
