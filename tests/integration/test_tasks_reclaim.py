"""Messages of a dead worker are reclaimed on a timer; a live worker's long task is not.

taskiq-redis 1.2.4 reclaims only when new work arrives, and reclaims a running task once it
outlives the idle timeout. The first test kills a real worker process (SIGKILL) while it holds
a message and adds no new work; the second runs a task longer than the idle timeout.

Run as a module (`python -m tests.integration.test_tasks_reclaim URL NAMESPACE`), this file is
the worker that gets killed: its `tests.hold` task announces itself and blocks forever.
"""

from __future__ import annotations

import asyncio
import typing
import uuid
from pathlib import Path

import pytest

from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.waiting import wait_until
from tests.support.workers import (
    Worker,
    doomed_worker,
    read_until,
    run_doomed,
    running_worker,
    settings_with,
)
from townsquare.core.keyspace import Keyspace
from townsquare.tasks import TaskRegistry
from townsquare.tasks.brokers import CONSUMER_GROUP

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.settings import Settings
    from townsquare.tasks.brokers import PipelineBroker

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

IDLE_TIMEOUT = 1.0
RECLAIM_INTERVAL = 1.0

DOOMED = TaskRegistry()
"""What the worker that gets killed runs."""
SURVIVOR = TaskRegistry()
"""What the worker that takes over runs: the same task name, finishing at once."""
LONG = TaskRegistry()

COMPLETED: list[str] = []
STARTS: list[str] = []
ENDS: list[str] = []


@DOOMED.task("jobs", "tests.hold")
async def hold_forever(key: str) -> None:
    print(f"STARTED {key}", flush=True)  # the test reads the worker's stdout
    await asyncio.Event().wait()


@SURVIVOR.task("jobs", "tests.hold")
async def hold_briefly(key: str) -> None:
    COMPLETED.append(key)


@LONG.task("jobs", "tests.long")
async def long_task(key: str, seconds: float) -> None:
    STARTS.append(key)
    await asyncio.sleep(seconds)
    ENDS.append(key)


@pytest.fixture
def settings() -> Settings:
    return settings_with(
        reclaim_interval_seconds=RECLAIM_INTERVAL, jobs__idle_timeout_seconds=IDLE_TIMEOUT
    )


async def _pending(redis: aioredis.Redis, producer: PipelineBroker) -> int:
    summary = await redis.xpending(producer.queue_name, CONSUMER_GROUP)
    return int(summary["pending"])


async def test_a_killed_workers_message_is_processed_by_another_without_new_work(
    redis_url: str,
    keyspace: Keyspace,
    redis: aioredis.Redis,
    producer: PipelineBroker,
    tmp_path: Path,
    worker: Worker,
) -> None:
    key = uuid.uuid4().hex
    await producer.enqueue("tests.hold", key)
    # Killed (SIGKILL) once it has started: no cleanup, no acknowledgement.
    log = tmp_path / "doomed-worker.log"
    async with doomed_worker(__name__, redis_url, keyspace.namespace, log=log) as doomed:
        await read_until(doomed, f"STARTED {key}".encode())
    assert await _pending(redis, producer) == 1
    killed_at = asyncio.get_running_loop().time()
    # Idle since its last delivery or renewal, which may be before the kill on a busy machine.
    [entry] = await redis.xpending_range(producer.queue_name, CONSUMER_GROUP, "-", "+", 1)
    idle_at_kill = entry["time_since_delivered"] / 1000

    async with worker(SURVIVOR):
        await wait_until(
            lambda: key in COMPLETED,
            within=IDLE_TIMEOUT + RECLAIM_INTERVAL + 5,
            what="takeover of the killed worker's message",
        )
        took = asyncio.get_running_loop().time() - killed_at

        async def settled() -> bool:
            return await _pending(redis, producer) == 0

        await wait_until(settled, within=5, what="acknowledgement")

    assert COMPLETED.count(key) == 1
    # Taken over after the idle timeout, by the periodic reclaim, with no new messages
    # (Redis counts idle time in whole milliseconds: 2 ms of slack).
    assert took + idle_at_kill >= IDLE_TIMEOUT - 0.002
    assert await redis.xlen(producer.queue_name) == 1


async def test_a_task_longer_than_the_idle_timeout_runs_once(
    redis_url: str,
    keyspace: Keyspace,
    redis: aioredis.Redis,
    producer: PipelineBroker,
) -> None:
    # Reclaim rounds every 0.3 s on two workers; the task runs 2.5 idle timeouts.
    settings = settings_with(reclaim_interval_seconds=0.3, jobs__idle_timeout_seconds=IDLE_TIMEOUT)
    key = uuid.uuid4().hex
    async with (
        running_worker(settings, redis_url, keyspace, LONG),
        running_worker(settings, redis_url, keyspace, LONG),
    ):
        await producer.enqueue("tests.long", key, IDLE_TIMEOUT * 2.5)
        await wait_until(lambda: key in ENDS, within=10, what="long task")

        async def settled() -> bool:
            return await _pending(redis, producer) == 0

        await wait_until(settled, within=5, what="acknowledgement")
    assert STARTS.count(key) == 1


if __name__ == "__main__":
    run_doomed(DOOMED, "jobs")


async def test_a_job_that_keeps_killing_its_workers_is_dead_lettered(
    redis_url: str,
    keyspace: Keyspace,
    redis: aioredis.Redis,
    producer: PipelineBroker,
) -> None:
    settings = settings_with(
        reclaim_interval_seconds=0.2, jobs__idle_timeout_seconds=0.2, jobs__max_attempts=2
    )
    key = uuid.uuid4().hex
    job_id = await producer.enqueue("tests.hold", key)
    # Two workers took it and died (a read and a claim each count as a delivery).
    stream = producer.queue_name
    [[_, [(entry_id, _)]]] = await redis.xreadgroup(CONSUMER_GROUP, "dead-1", {stream: ">"})
    await redis.xclaim(stream, CONSUMER_GROUP, "dead-2", 0, [entry_id])
    dead_letters = keyspace.key("dead_letter", "jobs")
    async with running_worker(settings, redis_url, keyspace, SURVIVOR):

        async def buried() -> bool:
            return await redis.xlen(dead_letters) == 1

        await wait_until(buried, within=10, what="dead letter")
        assert await _pending(redis, producer) == 0
    [(_, fields)] = await redis.xrange(dead_letters)
    assert fields[b"task_id"] == job_id.encode()
    assert fields[b"error"].startswith(b"townsquare.tasks.errors.AbandonedJobError: delivered 3")
    assert fields[b"attempts"] == b"2"
    assert key not in COMPLETED
