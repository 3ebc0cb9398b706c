"""A worker SIGKILLed in the middle of a batch (after the award script, before the level check
and the acknowledgement) leaves every total exact and loses no level-up: another worker
reclaims the batch, skips the awarding as a duplicate, and still queues the level changes.

Run as a module (`python -m tests.integration.features.xp.test_xp_kill URL NAMESPACE`), this
file is the worker that gets killed: its `xp.process_batch` awards, announces it, and hangs.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import time
import typing
from pathlib import Path

import pytest

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
    drained,
    mark_loaded,
    message,
    reference_levels,
    reference_totals,
    send_batch,
)
from townsquare.core.events import MessageRecord, parse_records
from townsquare.core.events.wire import DATA_FIELD
from townsquare.core.keyspace import Keyspace
from townsquare.features.xp.domain.award import award_messages
from townsquare.features.xp.domain.config import XPSection
from townsquare.tasks import TaskRegistry
from townsquare.tasks.brokers import CONSUMER_GROUP
from townsquare.tasks.registry import load_tasks

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

pytestmark = pytest.mark.integration

GUILD = 940_000_000_000_000_001
DOOMED = TaskRegistry()


@DOOMED.task("xp", "xp.process_batch")
async def award_then_hang(records: list[dict[str, typing.Any]]) -> None:
    import redis.asyncio as aioredis

    redis_url, namespace = sys.argv[1:3]
    client = aioredis.Redis.from_url(redis_url)
    parsed = [r for r in parse_records(records) if isinstance(r, MessageRecord)]
    await award_messages(
        client, Keyspace(namespace), GUILD, SETTINGS.guild_defaults.section(XPSection), parsed
    )
    print("AWARDED", flush=True)  # the test reads the worker's stdout
    await asyncio.Event().wait()


async def test_a_worker_killed_mid_batch_leaves_totals_exact_and_levels_queued(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace, orm: None, tmp_path: Path
) -> None:
    now = int(time.time() * 1000)
    records = [
        message(GUILD, 20 + n % 5, 50_000 + n, now - 1_000_000 + n * 7_000) for n in range(100)
    ]
    expected = {m: t for m, t in reference_totals(records, SETTINGS.guild_defaults).items() if t}
    await send_batch(redis, keyspace, records)
    await mark_loaded(redis, keyspace, GUILD)  # the doomed worker has no PostgreSQL to load from
    # Killed (SIGKILL) after awarding: no level check, no acknowledgement.
    log = tmp_path / "doomed-worker.log"
    async with doomed_worker(__name__, redis_url, keyspace.namespace, log=log) as doomed:
        await read_until(doomed, b"AWARDED")
    raw = await redis.hgetall(keyspace.key("xp", GUILD))
    assert {int(m): int(x) for m, x in raw.items()} == expected
    summary = await redis.xpending(keyspace.key("stream", "xp"), CONSUMER_GROUP)
    assert summary["pending"] == 1

    settings = settings_with(reclaim_interval_seconds=0.3, xp__idle_timeout_seconds=1)
    async with running_worker(settings, redis_url, keyspace, load_tasks(), ("xp",)):
        await wait_until(lambda: drained(redis, keyspace, "xp"), within=15, what="reclaimed")
    raw = await redis.hgetall(keyspace.key("xp", GUILD))
    assert {int(m): int(x) for m, x in raw.items()} == expected
    entries = await redis.xrange(keyspace.key("stream", "jobs"))
    jobs = [json.loads(fields[DATA_FIELD.encode()]) for _, fields in entries]
    queued = collections.Counter((job["args"][1], job["kwargs"]["level"]) for job in jobs)
    levels = {m: level for m, level in reference_levels(expected).items() if level}
    assert queued == collections.Counter(levels.items())


if __name__ == "__main__":
    run_doomed(DOOMED, "xp")
