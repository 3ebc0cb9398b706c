"""Issue 10's reproduction, at a size a test can afford: a bulk of messages from one member,
a worker SIGKILLed while it holds batches of the `xp` stream, and those batches reclaimed
after everything newer was processed, so every message in them is late. Every total stays
exact, nothing is dead-lettered, and no script runs 20 ms (the server's SLOWLOG; a private
Valkey, see tests/support/valkey.py).

Before the fix each reclaimed batch read and sorted the member's whole seen set per message:
with this history the scripts ran for seconds, blocking Redis.

Run as a module (`python -m tests.integration.features.xp.test_xp_reclaim_bulk URL
NAMESPACE`), this file is the worker that gets killed: its `xp.process_batch` announces each
batch and hangs, so the batches it took stay pending.
"""

from __future__ import annotations

import asyncio
import time
import typing
import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.support.waiting import wait_until
from tests.support.workers import (
    doomed_worker,
    read_until,
    run_doomed,
    running_worker,
    settings_with,
)
from tests.support.xp import (
    SETTINGS,
    configure,
    drained,
    mark_loaded,
    message,
    reference_totals,
    send_batch,
)
from townsquare.core.keyspace import Keyspace
from townsquare.tasks import TaskRegistry
from townsquare.tasks.brokers import CONSUMER_GROUP
from townsquare.tasks.registry import load_tasks

if typing.TYPE_CHECKING:
    from townsquare.core.embedded import EmbeddedServer

# A script time budget (SLOWLOG) measures its neighbours too: run alone, after the parallel phase.
pytestmark = [pytest.mark.integration, pytest.mark.timing]

GUILD = 940_000_000_000_000_077
MEMBER = 31
BULK = 20_000
BATCH = 200  # the shards' batch size
HELD = SETTINGS.tasks.pipeline(
    "xp"
).max_concurrent_tasks  # what the doomed worker holds when killed
SLOW_SCRIPT_US = 20_000
DOOMED = TaskRegistry()


@DOOMED.task("xp", "xp.process_batch")
async def hold(records: list[dict[str, typing.Any]]) -> None:
    print("HOLDING", flush=True)  # the test reads the worker's stdout
    await asyncio.Event().wait()


async def test_a_bulk_reclaimed_after_newer_batches_leaves_every_total_exact(
    private_valkey: EmbeddedServer, orm: None, tmp_path: Path
) -> None:
    url = private_valkey.url
    redis = aioredis.Redis.from_url(url)
    keyspace = Keyspace(f"t{uuid.uuid4().hex[:12]}")
    config = await configure(GUILD, xp={"cooldown_seconds": 60})
    now = int(time.time() * 1000)
    # The bulk: one member, in time order, one message every 50 ms over the last ~17 minutes.
    records = [message(GUILD, MEMBER, 10**17 + n, now - 1_020_000 + n * 50) for n in range(BULK)]
    for start in range(0, BULK, BATCH):
        await send_batch(redis, keyspace, records[start : start + BATCH])
    await mark_loaded(redis, keyspace, GUILD)
    stream = keyspace.key("stream", "xp")
    try:
        # SIGKILLed with the oldest batches pending.
        log = tmp_path / "doomed-worker.log"
        async with doomed_worker(__name__, url, keyspace.namespace, log=log) as doomed:
            await read_until(doomed, b"HOLDING", times=HELD, within=60)
        assert int((await redis.xpending(stream, CONSUMER_GROUP))["pending"]) == HELD

        await redis.config_set("slowlog-log-slower-than", 0)
        await redis.config_set("slowlog-max-len", 100_000)
        await redis.slowlog_reset()
        # First a worker that does not reclaim yet (the held batches are not idle long
        # enough) processes everything newer...
        patient = settings_with(reclaim_interval_seconds=0.3, xp__idle_timeout_seconds=600)
        async with running_worker(patient, url, keyspace, load_tasks(), ("xp",)):

            async def only_held_left() -> bool:
                info = await redis.xinfo_groups(stream)
                return bool(
                    info[0]["pending"] == HELD
                    and info[0]["last-delivered-id"]
                    == (await redis.xinfo_stream(stream))["last-generated-id"]
                )

            await wait_until(only_held_left, within=60, what="the newer batches processed")
            await wait_until(
                lambda: worker_idle(redis, stream, HELD), within=30, what="the workers idle"
            )
        # ... then one that reclaims the held batches: older than everything processed.
        reclaiming = settings_with(reclaim_interval_seconds=0.3, xp__idle_timeout_seconds=1)
        async with running_worker(reclaiming, url, keyspace, load_tasks(), ("xp",)):
            await wait_until(lambda: drained(redis, keyspace, "xp"), within=60, what="reclaimed")

        total = await redis.hget(keyspace.key("xp", GUILD), str(MEMBER))
        assert int(total or 0) == reference_totals(records, config)[MEMBER]
        counted = await redis.hget(keyspace.key("xp_messages", GUILD), str(MEMBER))
        assert int(counted or 0) == BULK
        assert await redis.xlen(keyspace.key("dead_letter", "xp")) == 0
        worst = max(
            (
                int(entry["duration"])
                for entry in await redis.slowlog_get(100_000)
                if _name(entry["command"]) in {"EVAL", "EVALSHA", "FCALL"}
            ),
            default=0,
        )
        assert 0 < worst < SLOW_SCRIPT_US, f"a script ran {worst} µs"
    finally:
        await redis.config_set("slowlog-log-slower-than", 10_000)
        await redis.flushall()
        await redis.aclose()


def _name(command: bytes | str) -> str:
    text = command.decode() if isinstance(command, bytes) else str(command)
    return text.split(" ", 1)[0].upper()


async def worker_idle(redis: aioredis.Redis, stream: str, held: int) -> bool:
    """Nothing pending but the held batches (the patient worker acknowledged all it ran)."""
    return int((await redis.xpending(stream, CONSUMER_GROUP))["pending"]) == held


if __name__ == "__main__":
    run_doomed(DOOMED, "xp")
