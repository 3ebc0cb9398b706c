"""Shared set-up of the pipeline benchmarks (no benchmark here).

- :func:`servers`: Redis and a PostgreSQL server, from `TOWNSQUARE_BENCH_*` or
  `TOWNSQUARE_TEST_*` (`REDIS_URL`, `DATABASE_URL`), else embedded ones under a
  `tempfile.mkdtemp` directory, stopped and removed afterwards;
- :func:`fresh_database`: a new database with every migration, dropped afterwards;
- :func:`configure_guild`, :func:`new_keyspace`, :func:`clear_keyspace`, :func:`wait_for`;
- :func:`bench_redis_url` (Redis only) and :func:`queue_and_drain` (jobs through a worker);
- :func:`reference_totals`: message XP computed from the documented formula, independently of
  `townsquare.features.xp.domain`.

The child processes (the sandbox with its injector, the shard) are in `_support_processes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
import typing
import uuid
from pathlib import Path

from townsquare.core.events.wire import DATA_FIELD

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Iterator

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings

__all__ = [
    "ROOT",
    "Chat",
    "bench_redis_url",
    "clear_keyspace",
    "configure_guild",
    "fresh_database",
    "hash_sum",
    "new_keyspace",
    "pipeline_worker",
    "queue_and_drain",
    "reference_totals",
    "servers",
    "wait_for",
]

ROOT = Path(__file__).resolve().parents[1]
"""The project's root: where `python -m benchmarks...` runs."""


# ---- servers and databases ---------------------------------------------------------------


@contextlib.contextmanager
def servers() -> Iterator[tuple[str, str]]:
    """`(redis_url, postgres_server_url)`: the configured servers or embedded ones."""
    env = os.environ.get
    redis_url = env("TOWNSQUARE_BENCH_REDIS_URL") or env("TOWNSQUARE_TEST_REDIS_URL")
    database_url = env("TOWNSQUARE_BENCH_DATABASE_URL") or env("TOWNSQUARE_TEST_DATABASE_URL")
    with contextlib.ExitStack() as stack:
        if not redis_url or not database_url:
            from townsquare.core.embedded import start_or_attach_postgres, start_or_attach_valkey

            root = Path(tempfile.mkdtemp(prefix="townsquare-bench-"))
            root.chmod(0o755)  # PostgreSQL runs as its own user when we are root
            stack.callback(shutil.rmtree, root, ignore_errors=True)
            if not redis_url:
                valkey = start_or_attach_valkey(root / "valkey")
                stack.callback(valkey.stop)
                redis_url = valkey.url
            if not database_url:
                postgres = start_or_attach_postgres(root / "postgres")
                stack.callback(postgres.stop)
                database_url = postgres.url
        yield redis_url, database_url


@contextlib.asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """A new database on `server_url` with every migration applied; dropped afterwards."""
    from tests.support.databases import scratch_database
    from townsquare.core.db import migrate

    async with scratch_database(server_url, "townsquare_bench") as url:
        await migrate(url)
        yield url


def new_keyspace() -> Keyspace:
    from townsquare.core.keyspace import Keyspace

    return Keyspace(f"b{uuid.uuid4().hex[:12]}")


async def clear_keyspace(redis: aioredis.Redis, keyspace: Keyspace) -> None:
    async for key in redis.scan_iter(match=f"{keyspace.namespace}:*", count=1000):
        await redis.delete(key)


@contextlib.asynccontextmanager
async def pipeline_worker(
    settings: Settings, redis_url: str, pipeline: str
) -> AsyncIterator[tuple[aioredis.Redis, Keyspace]]:
    """A worker of `pipeline` on a fresh keyspace, with a client of that Redis; afterwards the
    worker is stopped and the keyspace cleared."""
    import redis.asyncio as aioredis

    from townsquare.tasks.registry import load_tasks
    from townsquare.tasks.worker import run_worker

    keyspace = new_keyspace()
    redis = aioredis.Redis.from_url(redis_url)
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(settings, redis_url, keyspace, (pipeline,), shutdown=stop, registry=load_tasks())
    )
    try:
        yield redis, keyspace
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=30)
        await clear_keyspace(redis, keyspace)
        await redis.aclose()


async def configure_guild(guild_id: int, **sections: dict[str, object]) -> None:
    """Store the guild's configuration in PostgreSQL: the defaults with section updates."""
    from townsquare.core.audit.service import Actor
    from townsquare.core.config.service import load_guild_config, update_guild_config
    from townsquare.core.guilds.service import ensure_guild
    from townsquare.core.settings import load_settings

    defaults = load_settings(environ={}, env_file=None).guild_defaults
    await ensure_guild(guild_id)
    current = await load_guild_config(guild_id, defaults)
    document = defaults.model_dump(mode="json")
    for name, update in sections.items():
        document[name].update(update)
    new = type(defaults).model_validate(document)
    await update_guild_config(
        guild_id, new, expected_version=current.version, actor=Actor.system(), defaults=defaults
    )


_HASH_SUM = "local s = 0 for _, v in ipairs(redis.call('HVALS', KEYS[1])) do s = s + v end return s"


async def hash_sum(redis: aioredis.Redis, key: str) -> int:
    """The sum of a hash's values, added up inside Redis (cheap to poll every few ms)."""
    return int(await redis.eval(_HASH_SUM, 1, key))


async def wait_for(
    check: typing.Callable[[], typing.Awaitable[bool]],
    *,
    within: float,
    what: str,
    interval: float = 0.005,
) -> float:
    """Poll `check` until it holds; returns `time.time()` when it did; fails after `within`."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not reached within {within} s")
        await asyncio.sleep(interval)
    return time.time()


# ---- the reference model -----------------------------------------------------------------


def reference_totals(
    messages: Iterable[Chat], *, minimum: int, maximum: int, cooldown_ms: int
) -> dict[int, int]:
    """Message XP without multipliers or exclusions, from the documented rule: per member in
    time order, a message earns `minimum + sha256(str(id)) mod (maximum - minimum + 1)` if no
    earning message of that member lies less than the cooldown before it."""
    totals: dict[int, int] = {}
    last: dict[int, int] = {}
    for chat in sorted(messages, key=lambda c: (c.ts, c.id)):
        totals.setdefault(chat.author, 0)
        if chat.author in last and chat.ts - last[chat.author] < cooldown_ms:
            continue
        digest = int(hashlib.sha256(str(chat.id).encode()).hexdigest(), 16)
        totals[chat.author] += minimum + digest % (maximum - minimum + 1)
        last[chat.author] = chat.ts
    return totals


class Chat(typing.NamedTuple):
    """One injected message: id, author, timestamp (Unix ms), and when the sandbox created it
    (`time.time()` in the sandbox process)."""

    id: int
    author: int
    ts: int
    created_at: float


def bench_redis_url(stack: contextlib.ExitStack) -> str:
    """`TOWNSQUARE_BENCH_REDIS_URL` (or `TOWNSQUARE_TEST_REDIS_URL`), else an embedded Valkey
    in a temporary directory, stopped with `stack`."""
    url = os.environ.get("TOWNSQUARE_BENCH_REDIS_URL") or os.environ.get(
        "TOWNSQUARE_TEST_REDIS_URL"
    )
    if url:
        return url
    from townsquare.core.embedded import start_or_attach_valkey

    root = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    server = start_or_attach_valkey(root / "valkey")
    stack.callback(server.stop)
    return server.url


def compare_batches(
    name: str,
    run: typing.Callable[[str, int, int, int], typing.Awaitable[float]],
    *,
    batch: int,
    messages: int,
    baseline_messages: int,
) -> None:
    """`run(redis_url, batch, count, seed)` with batches of `batch`, then with one task per
    message as the baseline, against one Redis; print both (:func:`report_batches`)."""
    with contextlib.ExitStack() as stack:
        url = bench_redis_url(stack)
        ours = asyncio.run(run(url, batch, messages, 1))
        baseline = asyncio.run(run(url, 1, baseline_messages, 2))
    report_batches(name, batch, ours, baseline)


def report_batches(name: str, batch: int, ours: float, baseline: float) -> None:
    """Print a batched pipeline's throughput against one task per message, measured in the
    same run: a sentence, then the JSON line `python -m benchmarks` collects."""
    print(f"batches of {batch}: {ours:,.0f} messages/s; one task per message: {baseline:,.0f}/s")
    print(
        json.dumps(
            {
                "benchmark": name,
                "value": round(ours),
                "unit": "messages/s",
                "baseline": round(baseline),
                "ratio": round(ours / baseline, 2),
            }
        )
    )


async def queue_and_drain(redis: aioredis.Redis, stream: str, jobs: Iterable[bytes | str]) -> float:
    """XADD `jobs` to `stream` in one pipeline, then wait until the consumer group has taken
    and acknowledged the last; the seconds it took."""
    started = time.perf_counter()
    async with redis.pipeline(transaction=False) as pipe:
        for job in jobs:
            pipe.xadd(stream, {DATA_FIELD: job})
        last_id = (await pipe.execute())[-1]
    while True:
        groups = await redis.xinfo_groups(stream)
        if groups and groups[0]["pending"] == 0 and groups[0]["last-delivered-id"] == last_id:
            return time.perf_counter() - started
        await asyncio.sleep(0.005)
