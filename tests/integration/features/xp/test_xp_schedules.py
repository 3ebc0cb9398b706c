"""The XP schedules: installed idempotently, fired by the real scheduler onto their pipelines."""

from __future__ import annotations

import asyncio
import json
import typing

import pytest

from tests.support.waiting import wait_until
from tests.support.workers import settings_with
from townsquare.core.events.wire import DATA_FIELD
from townsquare.features.xp.tasks import FLUSH_TASK, VOICE_TICK_TASK, install_xp_schedules
from townsquare.tasks.registry import load_tasks
from townsquare.tasks.schedule_sources import make_schedule_source
from townsquare.tasks.scheduler import run_scheduler

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = pytest.mark.integration


async def queued(redis: aioredis.Redis, keyspace: Keyspace, pipeline: str) -> list[str]:
    entries = await redis.xrange(keyspace.key("stream", pipeline))
    return [json.loads(fields[DATA_FIELD.encode()])["task_name"] for _, fields in entries]


async def test_schedules_install_once_and_the_flush_fires_on_the_jobs_pipeline(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace
) -> None:
    source = await make_schedule_source(redis_url, keyspace)
    try:
        for _ in range(2):
            await install_xp_schedules(source, flush_interval_seconds=1)
        schedules = await source.get_schedules()
    finally:
        await source.shutdown()
    assert sorted((s.task_name, s.cron, s.interval) for s in schedules) == [
        (FLUSH_TASK, None, 1),
        (VOICE_TICK_TASK, "* * * * *", None),
    ]
    stop = asyncio.Event()
    scheduler = asyncio.create_task(
        run_scheduler(
            settings_with(),
            redis_url,
            keyspace,
            shutdown=stop,
            registry=load_tasks(),
            update_interval_seconds=1,
        )
    )
    try:
        await wait_until(
            lambda: _has(redis, keyspace, "jobs", FLUSH_TASK), within=15, what="a flush queued"
        )
    finally:
        stop.set()
        await asyncio.wait_for(scheduler, timeout=15)


async def _has(redis: aioredis.Redis, keyspace: Keyspace, pipeline: str, task: str) -> bool:
    return task in await queued(redis, keyspace, pipeline)
