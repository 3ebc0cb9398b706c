"""Retries with growing delays, then the dead-letter stream (flow 11), on a real Redis."""

from __future__ import annotations

import datetime
import itertools
import json
import time
import typing
import uuid
from collections import defaultdict

import pytest

from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.waiting import wait_until
from tests.support.workers import (
    Worker,
    settings_with,
)
from townsquare.tasks import PermanentJobError, TaskRegistry
from townsquare.tasks.backoff import backoff_ceiling
from townsquare.tasks.brokers import CONSUMER_GROUP

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.tasks.brokers import PipelineBroker

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

BASE = 0.1
MAXIMUM = 1.0
MAX_ATTEMPTS = 4

REGISTRY = TaskRegistry()
RUNS: defaultdict[str, list[float]] = defaultdict(list)


@REGISTRY.task("jobs", "tests.always_fails")
async def always_fails(key: str, payload: dict[str, int]) -> None:
    RUNS[key].append(time.monotonic())
    raise ValueError(f"always fails: {key}")


@REGISTRY.task("jobs", "tests.fails_twice")
async def fails_twice(key: str) -> str:
    RUNS[key].append(time.monotonic())
    if len(RUNS[key]) <= 2:
        raise RuntimeError("not yet")
    return "done"


@REGISTRY.task("jobs", "tests.bad_input")
async def bad_input(key: str) -> None:
    RUNS[key].append(time.monotonic())
    raise PermanentJobError("guild 1 no longer exists")


@pytest.fixture
def settings() -> Settings:
    return settings_with(
        jobs__max_attempts=MAX_ATTEMPTS,
        jobs__backoff_base_seconds=BASE,
        jobs__backoff_max_seconds=MAXIMUM,
    )


async def test_a_job_that_always_fails_is_dead_lettered_after_growing_delays(
    keyspace: Keyspace, redis: aioredis.Redis, producer: PipelineBroker, worker: Worker
) -> None:
    key = uuid.uuid4().hex
    dead_letters = keyspace.key("dead_letter", "jobs")
    async with worker(REGISTRY):
        job_id = await producer.enqueue("tests.always_fails", key, payload={"n": 1})

        async def dead_lettered() -> bool:
            return bool(await redis.xlen(dead_letters))

        await wait_until(dead_lettered, within=10, what="dead letter")
        entries = await redis.xrange(dead_letters)
        # The entry is written and the stream entry acknowledged in one transaction.
        assert (await redis.xpending(producer.queue_name, CONSUMER_GROUP))["pending"] == 0

    assert len(entries) == 1
    fields = {name.decode(): value.decode() for name, value in entries[0][1].items()}
    assert fields["task_name"] == "tests.always_fails"
    assert fields["task_id"] == job_id
    assert fields["pipeline"] == "jobs"
    assert json.loads(fields["args"]) == [key]
    assert json.loads(fields["kwargs"]) == {"payload": {"n": 1}}
    assert json.loads(fields["labels"])["attempt"] == str(MAX_ATTEMPTS)
    assert fields["error"] == f"ValueError: always fails: {key}"
    assert "test_tasks_retry.py" in fields["traceback"]
    assert "in always_fails" in fields["traceback"]
    assert fields["attempts"] == str(MAX_ATTEMPTS)
    failed_at = datetime.datetime.fromisoformat(fields["failed_at"])
    assert abs(datetime.datetime.now(datetime.UTC) - failed_at) < datetime.timedelta(minutes=1)
    replayable = json.loads(fields["message"])
    assert replayable["task_name"] == "tests.always_fails"
    assert "attempt" not in replayable["labels"]
    assert await redis.zcard(keyspace.key("retry", "jobs")) == 0

    # Equal jitter: the delay after attempt n lies in [ceiling(n)/2, ceiling(n)], and the
    # measured gap only adds the pump's and the stream's latency, never subtracts. So every
    # gap is at least half its ceiling, and the last gap (>= 0.2 s) beats the first
    # (<= 0.1 s plus the pump's half-base polling) whatever the random draws were.
    runs = RUNS[key]
    assert len(runs) == MAX_ATTEMPTS
    gaps = [later - earlier for earlier, later in itertools.pairwise(runs)]
    for attempt, gap in enumerate(gaps, start=1):
        ceiling = backoff_ceiling(attempt, BASE, MAXIMUM)
        assert ceiling / 2 <= gap <= ceiling + 1.0, (attempt, gaps)
    assert gaps[-1] > gaps[0], gaps


async def test_a_job_that_fails_twice_runs_three_times_and_leaves_no_dead_letter(
    keyspace: Keyspace, redis: aioredis.Redis, producer: PipelineBroker, worker: Worker
) -> None:
    key = uuid.uuid4().hex
    async with worker(REGISTRY):
        await producer.enqueue("tests.fails_twice", key)
        await wait_until(lambda: len(RUNS[key]) == 3, within=10, what="third attempt")

        async def settled() -> bool:
            pending = await redis.xpending(producer.queue_name, CONSUMER_GROUP)
            return pending["pending"] == 0

        await wait_until(settled, within=5, what="acknowledgement")

    assert len(RUNS[key]) == 3
    assert await redis.xlen(keyspace.key("dead_letter", "jobs")) == 0
    assert await redis.zcard(keyspace.key("retry", "jobs")) == 0


async def test_a_permanent_error_skips_the_remaining_attempts(
    keyspace: Keyspace, redis: aioredis.Redis, producer: PipelineBroker, worker: Worker
) -> None:
    key = uuid.uuid4().hex
    dead_letters = keyspace.key("dead_letter", "jobs")
    async with worker(REGISTRY):
        await producer.enqueue("tests.bad_input", key)

        async def dead_lettered() -> bool:
            return bool(await redis.xlen(dead_letters))

        await wait_until(dead_lettered, within=10, what="dead letter")

    [(_, fields)] = await redis.xrange(dead_letters)
    assert fields[b"attempts"] == b"1"
    assert fields[b"error"] == (
        b"townsquare.tasks.errors.PermanentJobError: guild 1 no longer exists"
    )
    assert len(RUNS[key]) == 1
