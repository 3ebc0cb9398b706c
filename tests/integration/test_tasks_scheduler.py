"""One active scheduler among several; schedules stored as JSON; lease handover."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import json
import typing
import uuid

import pytest
import structlog
from taskiq import ScheduledTask

from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.waiting import wait_until
from tests.support.workers import settings_with
from townsquare.tasks import load_tasks
from townsquare.tasks.health import PING_TASK
from townsquare.tasks.locks import RedisLease
from townsquare.tasks.schedule_sources import make_schedule_source
from townsquare.tasks.scheduler import run_scheduler

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.tasks.schedule_sources import JsonListScheduleSource

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

LOCK_TTL = 6.0
"""Long enough that a loaded machine (or a 3-node cluster under six test workers) renews in
time: a renewal comes every LOCK_TTL / 3."""


@dataclasses.dataclass(frozen=True, slots=True)
class Scheduling:
    """Redis, a namespace, the schedule source, and schedulers to start against them."""

    redis: aioredis.Redis
    redis_url: str
    keyspace: Keyspace
    source: JsonListScheduleSource
    settings: Settings

    @contextlib.asynccontextmanager
    async def schedulers(self, count: int) -> AsyncIterator[list[asyncio.Event]]:
        """`count` schedulers in this loop; yields their stop events, stops all on exit."""
        stops = [asyncio.Event() for _ in range(count)]
        tasks = [
            asyncio.create_task(
                run_scheduler(
                    self.settings,
                    self.redis_url,
                    self.keyspace,
                    shutdown=stop,
                    registry=load_tasks(),
                    update_interval_seconds=1,
                    lock_ttl_seconds=LOCK_TTL,
                )
            )
            for stop in stops
        ]
        try:
            yield stops
        finally:
            for stop in stops:
                stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=15)


@pytest.fixture
async def scheduling(
    redis_url: str, keyspace: Keyspace, redis: aioredis.Redis
) -> AsyncIterator[Scheduling]:
    source = await make_schedule_source(redis_url, keyspace)
    try:
        yield Scheduling(redis, redis_url, keyspace, source, settings_with())
    finally:
        await source.shutdown()


def _ping_now(token: str) -> ScheduledTask:
    return ScheduledTask(
        task_name=PING_TASK,
        labels={},
        args=[token],
        kwargs={},
        time=datetime.datetime.now(datetime.UTC),
    )


async def _queued_pings(redis: aioredis.Redis, keyspace: Keyspace) -> list[str]:
    entries = await redis.xrange(keyspace.key("stream", "jobs"))
    messages = [json.loads(fields[b"data"]) for _, fields in entries]
    assert all(message["task_name"] == PING_TASK for message in messages)
    return [message["args"][0] for message in messages]


def _events(logs: list[dict[str, typing.Any]], name: str) -> list[dict[str, typing.Any]]:
    return [line for line in logs if line["event"] == name]


def _logged(logs: list[dict[str, typing.Any]], name: str, count: int = 1) -> Callable[[], bool]:
    return lambda: len(_events(logs, name)) >= count


async def test_two_schedulers_fire_a_one_off_schedule_exactly_once(scheduling: Scheduling) -> None:
    redis, keyspace, source = scheduling.redis, scheduling.keyspace, scheduling.source
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    with structlog.testing.capture_logs() as logs:
        async with scheduling.schedulers(2):
            await wait_until(_logged(logs, "tasks.scheduler_active"), within=5, what="active")
            schedule = _ping_now(first)
            await source.add_schedule(schedule)

            # Stored as JSON, never pickle.
            raw = await redis.get(source._get_data_key(schedule.schedule_id))
            assert raw is not None
            stored = json.loads(raw)
            assert stored["task_name"] == PING_TASK
            assert stored["args"] == [first]

            async def queued(count: int) -> bool:
                return len(await _queued_pings(redis, keyspace)) >= count

            await wait_until(lambda: queued(1), within=10, what="first schedule fired")
            # A second schedule firing proves the loop went on past the first one.
            await source.add_schedule(_ping_now(second))
            await wait_until(lambda: queued(2), within=10, what="second schedule fired")
            # One-off schedules are deleted once queued.
            assert await redis.get(source._get_data_key(schedule.schedule_id)) is None

    assert await _queued_pings(redis, keyspace) == [first, second]
    assert len(_events(logs, "tasks.scheduler_active")) == 1
    assert len(_events(logs, "tasks.scheduler_standby")) == 2
    assert len(_events(logs, "tasks.schedule_fired")) == 2


async def test_a_standby_takes_over_when_the_active_scheduler_stops(
    scheduling: Scheduling,
) -> None:
    redis, keyspace, source = scheduling.redis, scheduling.keyspace, scheduling.source
    token = uuid.uuid4().hex
    with structlog.testing.capture_logs() as logs:
        async with scheduling.schedulers(1) as (first_stop,):
            await wait_until(_logged(logs, "tasks.scheduler_active"), within=5, what="active")
            async with scheduling.schedulers(1):
                await wait_until(
                    _logged(logs, "tasks.scheduler_standby", 2), within=5, what="standby"
                )
                first_stop.set()
                took = await wait_until(
                    _logged(logs, "tasks.scheduler_active", 2), within=5, what="takeover"
                )
                await source.add_schedule(_ping_now(token))

                async def fired() -> bool:
                    return await _queued_pings(redis, keyspace) == [token]

                await wait_until(fired, within=10, what="schedule fired after takeover")

    # A loaded machine may delay a renewal past the lease and hand it over once more: the
    # takeover under test is the first.
    first, second = _events(logs, "tasks.scheduler_active")[:2]
    assert first["scheduler_token"] != second["scheduler_token"]
    # A clean stop releases the lease: the standby needs one poll, not the whole TTL.
    assert took < LOCK_TTL
    [fired_line] = _events(logs, "tasks.schedule_fired")
    assert fired_line["schedule_id"]


async def test_a_dead_holders_lease_expires_and_cannot_be_renewed_or_released(
    keyspace: Keyspace, redis: aioredis.Redis
) -> None:
    key = keyspace.key("scheduler_lock")
    dead, standby = RedisLease(redis, key, 0.2), RedisLease(redis, key, 0.2)
    assert await dead.acquire()
    assert not await standby.acquire()

    async def taken() -> bool:
        return await standby.acquire()

    await wait_until(taken, within=5, what="expiry")
    assert not await dead.renew()
    await dead.release()
    assert await redis.get(key) == standby.token.encode()
    assert await standby.renew()
    await standby.release()
    assert await redis.get(key) is None
