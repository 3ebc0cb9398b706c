"""A job encoded by `townsquare.core.events.encode_job` (what shards and the HTTP service use,
since they may not import `townsquare.tasks`) runs on a real worker exactly like one queued by
the broker."""

from __future__ import annotations

import uuid

from tests.support.waiting import wait_until
from tests.support.workers import running_worker, settings_with
from townsquare.core.events import encode_job
from townsquare.core.events.wire import DATA_FIELD
from townsquare.tasks.health import PING_TASK
from townsquare.tasks.registry import REGISTRY, load_tasks


async def test_a_job_xadded_by_a_producer_runs_on_a_worker(redis, redis_url, keyspace) -> None:
    load_tasks()
    token = uuid.uuid4().hex
    await redis.xadd(keyspace.key("stream", "jobs"), {DATA_FIELD: encode_job(PING_TASK, token)})
    async with running_worker(settings_with(), redis_url, keyspace, REGISTRY):
        await wait_until(
            lambda: redis.exists(keyspace.key("ping", token)), within=10, what="ping ran"
        )
    assert int(await redis.get(keyspace.key("ping", token))) == 1
