"""On a Redis Cluster the schedule source follows its slot when a resharding moves it.

The source (taskiq-redis's, which talks to one server) is given the master that owns the
`{schedules}` slot. Here that slot is moved, with its keys, to another master of the test
cluster while the source runs: the old master answers MOVED, and the source asks the
cluster for the new owner and reads there (before: MOVED until the scheduler restarted).

The second test kills the slot's master instead (SIGKILL, on a separate cluster where that
master has a replica, `replicated_cluster`): the old node no longer answers at all (a
connection error, not MOVED), Valkey promotes the replica, and the source finds the schedule
it added there. The schedule was on the replica before the kill (replication offsets): an
acknowledged write the replica had not yet received would be lost with the master, which
Redis' asynchronous replication does not promise to keep.
"""

from __future__ import annotations

import asyncio
import typing
import uuid

import pytest
from redis.crc import key_slot
from taskiq import ScheduledTask

from tests.support.redis_cluster import move_slot, replicated_cluster, slot_owner_port
from townsquare.tasks.health import PING_TASK
from townsquare.tasks.schedule_sources import make_schedule_source

if typing.TYPE_CHECKING:
    from pathlib import Path

    from townsquare.core.keyspace import Keyspace

pytestmark = pytest.mark.integration


async def test_the_schedule_source_follows_its_slot_to_another_master(
    redis_cluster_url: str, keyspace: Keyspace
) -> None:
    source = await make_schedule_source(redis_cluster_url, keyspace)
    slot = key_slot(keyspace.key("schedules").encode())
    home = slot_owner_port(redis_cluster_url, slot)
    elsewhere = next(
        port
        for port in (int(node.rsplit(":", 1)[1]) for node in redis_cluster_url.split(",")[1:])
        if port != home
    )
    schedule = ScheduledTask(
        task_name=PING_TASK, labels={}, args=["failover"], kwargs={}, cron="* * * * *"
    )
    await source.startup()
    try:
        await source.add_schedule(schedule)
        assert [s.schedule_id for s in await source.get_schedules()] == [schedule.schedule_id]
        await asyncio.to_thread(move_slot, redis_cluster_url, slot, elsewhere)
        try:
            found = await source.get_schedules()
            assert [s.schedule_id for s in found] == [schedule.schedule_id]
            assert source.url.endswith(f":{elsewhere}")
            await source.delete_schedule(schedule.schedule_id)
            assert await source.get_schedules() == []
        finally:
            await asyncio.to_thread(move_slot, redis_cluster_url, slot, home)
    finally:
        await source.shutdown()


async def test_the_schedule_source_follows_its_slot_to_a_promoted_replica(
    embedded_root: Path, keyspace: Keyspace
) -> None:
    slot = key_slot(keyspace.key("schedules").encode())
    root = embedded_root / f"redis-failover-{uuid.uuid4().hex[:8]}"
    with replicated_cluster(root, slot) as cluster:
        source = await make_schedule_source(cluster.url, keyspace)
        schedule = ScheduledTask(
            task_name=PING_TASK, labels={}, args=["failover"], kwargs={}, cron="* * * * *"
        )
        await source.startup()
        try:
            await source.add_schedule(schedule)
            await cluster.fail_over()
            found = await source.get_schedules()
            assert [s.schedule_id for s in found] == [schedule.schedule_id]
            assert source.url.endswith(f":{cluster.replica_port}")
            await source.delete_schedule(schedule.schedule_id)
            assert await source.get_schedules() == []
        finally:
            await source.shutdown()
