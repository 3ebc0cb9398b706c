"""Helpers shared by the task tests (no tests here): settings, a running worker, polling."""

from __future__ import annotations

import asyncio
import contextlib
import typing

from townsquare.core.settings import load_settings
from townsquare.tasks.worker import run_worker

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.tasks.registry import TaskRegistry

__all__ = ["running_worker", "settings_with", "wait_until"]


def settings_with(**overrides: object) -> Settings:
    """Default settings with `tasks` keys overridden, e.g. `jobs__max_attempts=4`."""
    environ = {f"TOWNSQUARE__TASKS__{key.upper()}": str(value) for key, value in overrides.items()}
    return load_settings(environ=environ, env_file=None)


async def wait_until(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    within: float,
    interval: float = 0.02,
    what: str = "condition",
) -> float:
    """Poll `check` until it holds; returns the seconds it took, fails after `within`."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        outcome = check()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return loop.time() - started
        if loop.time() - started > within:
            raise AssertionError(f"{what} not reached within {within} s")
        await asyncio.sleep(interval)


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
