"""PostgreSQL unreachable does not use up jobs' attempts, and is alerted (found by the chaos
suite, issue 17).

In the chaos run, PostgreSQL unreachable for 30 s dead-lettered automod batches (members'
messages) and the assistant's channel sync within 15 s: each failed attempt counted, and
automod has five a second apart. Now a job that failed because the database could not be
reached is retried with the same attempt number, as for a Redis outage, and one operator
alert says so. Here the worker reaches PostgreSQL through a proxy that is cut for longer than
the job's two attempts would last.
"""

from __future__ import annotations

import asyncio
import typing

import pytest
from tortoise import Tortoise

from tests.support.pipeline import enqueue
from tests.support.tcp_proxy import proxied_url, tcp_proxy
from tests.support.waiting import wait_until
from tests.support.workers import running_worker, settings_with
from townsquare.core import db
from townsquare.core.alerts import parse_alert
from townsquare.core.db_health import is_database_unavailable
from townsquare.tasks import TaskRegistry

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = pytest.mark.integration

DONE: list[str] = []
REGISTRY = TaskRegistry()


@REGISTRY.task("jobs", "tests.query")
async def query(token: str) -> None:
    await Tortoise.get_connection("default").execute_query("SELECT 1")
    DONE.append(token)


def test_only_the_database_driver_s_socket_errors_mean_the_database_is_down() -> None:
    assert not is_database_unavailable(ConnectionRefusedError(111, "a REST call"))
    assert not is_database_unavailable(ValueError("bad input"))


async def test_a_job_waits_out_a_database_outage_without_using_its_attempts(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace, database_url: str
) -> None:
    settings = settings_with(
        jobs__max_attempts=2, jobs__backoff_base_seconds=0.1, jobs__backoff_max_seconds=0.2
    )
    async with (
        tcp_proxy(database_url) as proxy,
        db.connect(proxied_url(database_url, proxy), pool_max=2),
        running_worker(settings, redis_url, keyspace, REGISTRY),
    ):
        await enqueue(redis, keyspace, "jobs", "tests.query", token="before")
        await wait_until(lambda: "before" in DONE, within=10, what="a job with the database up")
        await proxy.cut()
        await enqueue(redis, keyspace, "jobs", "tests.query", token="during")
        # Three seconds without PostgreSQL: a dozen tries, where two attempts were allowed.
        await asyncio.sleep(3)
        assert "during" not in DONE
        await proxy.restore()
        await wait_until(lambda: "during" in DONE, within=15, what="the job once it is back")
    assert await redis.xlen(keyspace.key("dead_letter", "jobs")) == 0
    alerts = [parse_alert(i.decode(), f) for i, f in await redis.xrange(keyspace.key("alerts"))]
    [alert] = [a for a in alerts if a.key == "postgresql_unavailable"]
    assert alert.source == "tasks.jobs" and "PostgreSQL could not be reached" in alert.message
