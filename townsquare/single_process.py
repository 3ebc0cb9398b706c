"""`townsquare up --single-process`: shards, workers, scheduler and HTTP on one event loop.

For small installs: one Python process instead of five saves the interpreter, the imported
libraries and the connection pools four times over (docs/self-hosting.md, "Small servers";
benchmarks/bench_footprint.py measures it). Each part runs as it does in its own process,
with the same settings, ports and Redis streams: nothing but the process boundary changes,
so the platform behaves the same in both modes. The parts share the process's imports and
one PostgreSQL pool (`database.pool_max`, "most connections one process opens"): each part's
own `db.connect` joins the pool opened here (tortoise's context is a context variable that the
parts' tasks inherit), and a connection idle for :data:`POOL_IDLE_SECONDS` is closed, so the
embedded server runs about one backend per connection in use rather than idle ones per part.
Everything else (Redis clients, HTTP sessions) each part opens for itself.

A part that fails is logged, reported through `on_crash` (an operator alert) and started again
after a delay that doubles with each failure in a row (1 s ... 30 s), as the supervisor does
for child processes; the other parts keep running.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import typing

import structlog

from townsquare.core import db
from townsquare.core.discord import resolve_discord_target
from townsquare.core.features import pipeline_names

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from townsquare.core.discord import DiscordTarget
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings

__all__ = ["PARTS", "POOL_IDLE_SECONDS", "run_single_process"]

PARTS: typing.Final = ("shards", "worker", "scheduler", "http")
"""What runs on the one loop (the sandbox, when Discord is the sandbox, starts before)."""

logger = structlog.get_logger(__name__)

POOL_IDLE_SECONDS: typing.Final = 10.0
"""A pool connection idle this long is closed: a burst (start-up, a backlog) leaves no idle
backends behind, each of which holds its own memory in PostgreSQL."""

_BACKOFF_MAX_SECONDS: typing.Final = 30.0
_STABLE_SECONDS: typing.Final = 30.0


async def run_single_process(
    settings: Settings,
    redis_url: str,
    database_url: str,
    keyspace: Keyspace,
    *,
    stop: asyncio.Event,
    on_crash: Callable[[str, int, float], Awaitable[None]] | None = None,
) -> None:
    """Run every part until `stop` is set; Discord (or the sandbox) must be reachable."""
    target = await asyncio.to_thread(resolve_discord_target, settings, wait_seconds=30)
    parts: dict[str, Callable[[], Awaitable[None]]] = {
        "shards": lambda: _shards(settings, redis_url, keyspace, target, stop),
        "worker": lambda: _worker(settings, redis_url, database_url, keyspace, stop),
        "scheduler": lambda: _scheduler(settings, redis_url, database_url, keyspace, stop),
        "http": lambda: _http(settings, redis_url, database_url, keyspace, stop),
    }
    async with (
        db.connect(
            database_url, pool_max=settings.database.pool_max, idle_seconds=POOL_IDLE_SECONDS
        ),
        asyncio.TaskGroup() as group,
    ):
        for name, part in parts.items():
            group.create_task(_keep_running(name, part, stop, on_crash), name=name)


async def _keep_running(
    name: str,
    part: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    on_crash: Callable[[str, int, float], Awaitable[None]] | None,
) -> None:
    failures = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            await part()
        except Exception:
            ran = time.monotonic() - started
            failures = 1 if ran >= _STABLE_SECONDS else failures + 1
            delay = min(_BACKOFF_MAX_SECONDS, 2.0 ** (failures - 1))
            logger.exception("single_process.part_failed", part=name, restart_in_seconds=delay)
            if on_crash is not None:
                with contextlib.suppress(Exception):
                    await on_crash(name, 1, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            continue
        if not stop.is_set():
            logger.error("single_process.part_returned", part=name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)


async def _shards(
    settings: Settings,
    redis_url: str,
    keyspace: Keyspace,
    target: DiscordTarget,
    stop: asyncio.Event,
) -> None:
    from townsquare.shards import parse_shard_selection, resolve_shard_selection, run_shards

    ids, count = await resolve_shard_selection(parse_shard_selection(), settings, target)
    await run_shards(settings, redis_url, keyspace, target, ids, count, shutdown=stop)


async def _worker(
    settings: Settings, redis_url: str, database_url: str, keyspace: Keyspace, stop: asyncio.Event
) -> None:
    from townsquare.tasks.worker import run_worker

    async with db.connect(database_url, pool_max=settings.database.pool_max):
        await run_worker(settings, redis_url, keyspace, list(pipeline_names()), shutdown=stop)


async def _scheduler(
    settings: Settings, redis_url: str, database_url: str, keyspace: Keyspace, stop: asyncio.Event
) -> None:
    from townsquare.tasks.scheduler_process import run_scheduler_process

    await run_scheduler_process(settings, redis_url, database_url, keyspace, stop=stop)


async def _http(
    settings: Settings, redis_url: str, database_url: str, keyspace: Keyspace, stop: asyncio.Event
) -> None:
    from townsquare.http import run_http

    await run_http(settings, redis_url, database_url, keyspace, shutdown=stop)
