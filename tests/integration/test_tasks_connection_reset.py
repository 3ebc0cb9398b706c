"""A worker whose Redis connections are reset keeps running (found by the chaos suite, issue 17).

Python 3.13.0's asyncio raises `AttributeError: 'NoneType' object has no attribute
'_add_writer'` when redis-py writes to a connection the server reset (cpython#136234; later
3.13 releases raise a connection error). In the chaos run, Redis unreachable for 30 s made
a worker's receivers fail with it; the worker took it for a bug, stopped, and exited 1 (as
did the scheduler), so the supervisor restarted them in a loop for the rest of the outage.
It is a lost connection, and every Townsquare connection now raises it as one (redis's
`ConnectionError`, `core/redis_client.py`): the receivers restart and the worker runs on.
Here every connection of a running worker is reset and refused for a few seconds, then a job
queued afterwards still runs (without that connection class, the AttributeError ends the
worker).
"""

from __future__ import annotations

import asyncio
import typing

import pytest

from tests.support.pipeline import enqueue
from tests.support.tcp_proxy import proxied_url, tcp_proxy
from tests.support.waiting import wait_until
from tests.support.workers import running_worker, settings_with
from townsquare.tasks import TaskRegistry

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = pytest.mark.integration

RAN: list[str] = []
REGISTRY = TaskRegistry()


@REGISTRY.task("jobs", "tests.note")
async def note(token: str) -> None:
    RAN.append(token)


async def test_a_worker_runs_on_after_its_connections_were_reset(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace
) -> None:
    settings = settings_with(reclaim_interval_seconds=0.2)
    async with tcp_proxy(redis_url) as proxy:
        url = proxied_url(redis_url, proxy)
        async with running_worker(settings, url, keyspace, REGISTRY) as worker:
            await enqueue(redis, keyspace, "jobs", "tests.note", token="before")
            await wait_until(lambda: "before" in RAN, within=10, what="the first job")
            await proxy.cut()
            # Three seconds without Redis: the outage itself, not a wait for a result.
            await asyncio.sleep(3)
            await proxy.restore()
            await enqueue(redis, keyspace, "jobs", "tests.note", token="after")
            await wait_until(lambda: "after" in RAN, within=20, what="a job after the outage")
            assert not worker.done(), "the worker stopped"
