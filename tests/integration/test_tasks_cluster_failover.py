"""A worker runs on when the cluster master of its pipeline dies and a replica takes over.

A separate test cluster (`replicated_cluster`) gives the master serving the `jobs` stream's
slot one replica. A real worker consumes `jobs` and a real producer queues on it; the master
is SIGKILLed while the worker runs a job and waits for more (XREADGROUP), and Valkey's
automatic failover promotes the replica (`cluster-node-timeout` 1 s). Then the job in flight
finishes and is acknowledged on the new master (nothing stays pending), jobs queued
afterwards run, and the worker is still running: its receiver lost its connection, restarted
and reads from the new master.

What is asserted, and why no more: Redis replicates asynchronously, so a write the master
acknowledged but had not yet sent to its replica is lost with the master. The test kills the
master only once the replica has applied everything the master had (replication offsets), so
every job queued before the kill must run; nothing is queued between the kill and the
promotion, while no master serves the slot. It asserts that each job ran, not that it ran
once: delivery is at least once, and an acknowledgement lost in the failover means a second
run.
"""

from __future__ import annotations

import asyncio
import typing
import uuid

import pytest
from redis.crc import key_slot

from tests.support.redis_cluster import replicated_cluster
from tests.support.waiting import wait_until
from tests.support.workers import producing, running_worker, settings_with
from townsquare.core.redis_client import connect_redis
from townsquare.tasks import TaskRegistry
from townsquare.tasks.brokers import CONSUMER_GROUP

if typing.TYPE_CHECKING:
    from pathlib import Path

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = pytest.mark.integration

REGISTRY = TaskRegistry()
RAN: list[str] = []
STARTED: list[str] = []
RELEASE: list[asyncio.Event] = []


@REGISTRY.task("jobs", "tests.note")
async def note(token: str) -> None:
    RAN.append(token)


@REGISTRY.task("jobs", "tests.held")
async def held(token: str) -> None:
    """Runs until the test releases it: it is in flight while the master dies."""
    STARTED.append(token)
    await RELEASE[0].wait()
    RAN.append(token)


async def test_a_worker_runs_on_after_its_master_fails_over(
    embedded_root: Path, keyspace: Keyspace
) -> None:
    RELEASE[:] = [asyncio.Event()]
    settings = settings_with(reclaim_interval_seconds=0.5)
    slot = key_slot(keyspace.key("stream", "jobs").encode())
    root = embedded_root / f"redis-failover-{uuid.uuid4().hex[:8]}"
    with replicated_cluster(root, slot) as cluster:
        async with (
            running_worker(settings, cluster.url, keyspace, REGISTRY) as worker,
            producing(settings, cluster.url, keyspace) as producer,
        ):
            before = [f"before-{n}" for n in range(3)]
            for token in before:
                await producer.enqueue("tests.note", token)
            await producer.enqueue("tests.held", "in-flight")
            await wait_until(
                lambda: set(before) <= set(RAN) and "in-flight" in STARTED,
                within=10,
                what="the jobs before the kill",
            )
            await cluster.fail_over()

            RELEASE[0].set()
            after = [f"after-{n}" for n in range(3)]
            for token in after:
                await producer.enqueue("tests.note", token)
            await wait_until(
                lambda: {"in-flight", *after} <= set(RAN),
                within=15,
                what="the job in flight and the jobs queued after the failover",
            )
            assert not worker.done(), "the worker stopped"
            redis = connect_redis(cluster.url)
            try:
                # The acknowledgements reach the new master: nothing stays pending (an entry
                # left pending would wait out the pipeline's idle timeout, 300 s).
                await wait_until(
                    lambda: _nothing_pending(redis, producer.queue_name),
                    within=10,
                    what="nothing pending on the new master",
                )
            finally:
                await redis.aclose()


async def _nothing_pending(redis: aioredis.Redis, stream: str) -> bool:
    summary = await redis.xpending(stream, CONSUMER_GROUP)
    return int(summary["pending"]) == 0
