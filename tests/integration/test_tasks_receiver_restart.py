"""A receiver restarted after a lost connection runs what its consumer read and never ran.

When the connection under a blocking `XREADGROUP` is lost after Redis delivered entries but
before the reply arrived, Redis has put them in this worker's pending list and the worker
never saw them; entries the old receiver was handed but had not started are dropped by
taskiq's receiver. Before, both waited for the pipeline's idle timeout (three minutes on `ai`:
an `/ask` got its fallback, found by the assistant's end-to-end tests under load). Now the
restarted receiver reads its own pending list first, leaving out what is still running here.
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
from townsquare.tasks.brokers import CONSUMER_GROUP

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = pytest.mark.integration

IDLE_TIMEOUT_SECONDS = 600
"""Far longer than the test: nothing here may wait for a reclaim."""

STARTED: list[str] = []
RELEASE = asyncio.Event()
REGISTRY = TaskRegistry()


@REGISTRY.task("jobs", "tests.note")
async def note(token: str) -> None:
    STARTED.append(token)


@REGISTRY.task("jobs", "tests.slow")
async def slow(token: str) -> None:
    STARTED.append(token)
    await RELEASE.wait()


async def test_entries_read_with_the_reply_lost_run_after_the_restart_and_running_ones_not_again(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace
) -> None:
    STARTED.clear()
    RELEASE.clear()
    stream = keyspace.key("stream", "jobs")
    settings = settings_with(jobs__idle_timeout_seconds=IDLE_TIMEOUT_SECONDS)
    async with tcp_proxy(redis_url) as proxy:
        url = proxied_url(redis_url, proxy)
        async with running_worker(settings, url, keyspace, REGISTRY) as worker:
            await enqueue(redis, keyspace, "jobs", "tests.slow", token="running")
            await wait_until(lambda: "running" in STARTED, within=10, what="the slow job")

            proxy.hold_replies()
            await enqueue(redis, keyspace, "jobs", "tests.note", token="stranded")

            async def delivered_unseen() -> bool:
                pending = await redis.xpending(stream, CONSUMER_GROUP)
                return int(pending["pending"]) == 2

            await wait_until(delivered_unseen, within=10, what="Redis delivering the entry")
            await proxy.cut()  # the reply is lost with the connection
            await proxy.restore()

            await wait_until(
                lambda: "stranded" in STARTED, within=30, what="the stranded entry run"
            )
            # Reading the pending list did not count a delivery: the poison check reads it.
            # The first pending entry is the job still running (queued first).
            running, *_ = await redis.xpending_range(stream, CONSUMER_GROUP, "-", "+", 10)
            assert running["times_delivered"] == 1
            RELEASE.set()

            async def all_acknowledged() -> bool:
                pending = await redis.xpending(stream, CONSUMER_GROUP)
                return int(pending["pending"]) == 0

            await wait_until(all_acknowledged, within=10, what="both entries acknowledged")
            assert not worker.done(), "the worker stopped"
    assert sorted(STARTED) == ["running", "stranded"], "a job ran twice, or not at all"
