"""A Redis outage never makes a live worker's jobs look abandoned, and is alerted (issue 10).

The reproduction: one job's script blocks Redis (Valkey answers every other client `BUSY`)
for longer than the idle timeout, while another job of the same live worker needs Redis.
Before the fix, the second job failed with `BUSY`, its retry could not be written, the worker
stopped renewing its claim, and once Redis answered the entry was reclaimed and
dead-lettered as `AbandonedJobError: every worker running it stopped`. Now it waits for Redis
and runs; no dead letter; an alert says Redis answered BUSY, and for how long. Blocking a
server needs a private one (see tests/support/valkey.py).
"""

from __future__ import annotations

import asyncio
import re
import typing
import uuid

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import TaskiqDepends

from tests.support.waiting import wait_until
from tests.support.workers import running_worker, settings_with
from townsquare.core.embedded import start_or_attach_valkey
from townsquare.core.keyspace import Keyspace
from townsquare.tasks import TaskRegistry, TaskResources
from townsquare.tasks.brokers import CONSUMER_GROUP, make_brokers
from townsquare.tasks.errors import PermanentJobError

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from townsquare.core.embedded import EmbeddedServer

# Wall-clock budgets and Redis blocked for seconds: run alone, after the parallel phase.
pytestmark = [pytest.mark.integration, pytest.mark.timing]

BLOCKING = TaskRegistry()
_Resources = typing.Annotated[TaskResources, TaskiqDepends()]

# Busy-waits `ARGV[1]` ms on the server's clock, then counts itself (KEYS[1]).
_BLOCK = """
local t = redis.call('TIME')
local start = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local now = start
while now - start < tonumber(ARGV[1]) do
  t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
return redis.call('INCR', KEYS[1])
"""


@BLOCKING.task("jobs", "tests.block")
async def block(token: str, ms: int, resources: _Resources) -> None:
    await resources.redis.eval(_BLOCK, 1, resources.keyspace.key("ping", token), ms)


GO = asyncio.Event()
"""Set by the test once Redis is busy: the job then needs Redis."""


@BLOCKING.task("jobs", "tests.count")
async def count(token: str, resources: _Resources) -> None:
    await GO.wait()
    await resources.redis.incr(resources.keyspace.key("ping", token))


@BLOCKING.task("jobs", "tests.refuse")
async def refuse(token: str) -> None:
    raise PermanentJobError(f"refused {token}")


@pytest.fixture
async def private_redis(private_valkey: EmbeddedServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(private_valkey.url)
    # Answer BUSY after 100 ms of script instead of 5 s, so the outage is quick to make.
    await client.config_set("busy-reply-threshold", 100)
    try:
        yield client
    finally:
        await client.flushall()
        await client.aclose()


async def answering(redis: aioredis.Redis, *, busy: bool = False) -> bool:
    """Whether the server answers (the test's own polls are refused while it is BUSY);
    with `busy`, whether it answers BUSY. The test's own client times out like any other
    (redis-py's 5 s default) while a script runs on a loaded machine: not an answer."""
    try:
        await redis.ping()
    except (RedisTimeoutError, RedisConnectionError):
        return False
    except ResponseError as error:
        if str(error).startswith("BUSY"):
            return busy
        raise
    return not busy


async def alerts(redis: aioredis.Redis, keyspace: Keyspace) -> list[dict[bytes, bytes]]:
    return [fields for _, fields in await redis.xrange(keyspace.key("alerts"))]


async def test_a_job_refused_busy_on_a_live_worker_waits_for_redis_and_runs_once(
    private_valkey: EmbeddedServer, private_redis: aioredis.Redis
) -> None:
    redis, url = private_redis, private_valkey.url
    keyspace = Keyspace(f"t{uuid.uuid4().hex[:12]}")
    # One attempt only: before the fix the reclaim after the outage buried the job at once.
    settings = settings_with(
        reclaim_interval_seconds=0.2, jobs__idle_timeout_seconds=1.0, jobs__max_attempts=1
    )
    producer = make_brokers(settings, url, keyspace, ["jobs"])["jobs"]
    await producer.startup()
    blocker, counted = uuid.uuid4().hex, uuid.uuid4().hex
    # A script that blocks the server for 8 s, eight idle timeouts, from a client that waits
    # for it.
    patient = aioredis.Redis.from_url(url, socket_timeout=None)
    try:
        async with (
            running_worker(settings, url, keyspace, BLOCKING),
            running_worker(settings, url, keyspace, BLOCKING),
        ):
            GO.clear()
            await producer.enqueue("tests.count", counted)

            async def taken() -> bool:
                pending = await redis.xpending(producer.queue_name, CONSUMER_GROUP)
                return int(pending["pending"]) == 1

            await wait_until(taken, within=5, what="the job taken by a worker")
            blocking = asyncio.create_task(
                patient.eval(_BLOCK, 1, keyspace.key("ping", blocker), 8_000)
            )
            await wait_until(lambda: answering(redis, busy=True), within=5, what="BUSY")
            GO.set()
            assert await blocking == 1

            async def done() -> bool:
                if not await answering(redis):
                    return False
                runs = await redis.get(keyspace.key("ping", counted))
                pending = await redis.xpending(producer.queue_name, CONSUMER_GROUP)
                return runs == b"1" and int(pending["pending"]) == 0

            await wait_until(done, within=30, what="the job done")
            assert await redis.xrange(keyspace.key("dead_letter", "jobs")) == []

            async def alerted() -> bool:
                return any(a[b"source"] == b"tasks.worker" for a in await alerts(redis, keyspace))

            await wait_until(alerted, within=30, what="the outage's alert")
        assert await redis.get(keyspace.key("ping", counted)) == b"1"
        assert await redis.xlen(keyspace.key("dead_letter", "jobs")) == 0
        [outage] = [a for a in await alerts(redis, keyspace) if a[b"source"] == b"tasks.worker"]
        assert outage[b"level"] == b"error"
        # What happened (a client with a short timeout may only have seen its reads time out
        # before the server said BUSY) and how long it lasted.
        assert re.search(
            rb"Redis (answered BUSY|was unreachable)[^;]* for \d+ s from ", outage[b"message"]
        )
    finally:
        await patient.aclose()
        await producer.shutdown()


async def test_a_script_longer_than_the_client_timeout_is_retried_after_it_ends_and_told_so(
    private_valkey: EmbeddedServer, private_redis: aioredis.Redis
) -> None:
    """The worker's client gives up after 5 s (redis-py's default socket timeout) while the
    script runs on: the job is kept (claim renewed) until Redis answers, then retried, and
    its dead letter says it timed out, not that its workers died."""
    redis, url = private_redis, private_valkey.url
    keyspace = Keyspace(f"t{uuid.uuid4().hex[:12]}")
    settings = settings_with(
        reclaim_interval_seconds=0.2,
        jobs__idle_timeout_seconds=1.0,
        jobs__max_attempts=2,
        jobs__backoff_base_seconds=0.1,
    )
    producer = make_brokers(settings, url, keyspace, ["jobs"])["jobs"]
    await producer.startup()
    blocker = uuid.uuid4().hex
    dead_letters = keyspace.key("dead_letter", "jobs")
    try:
        async with (
            running_worker(settings, url, keyspace, BLOCKING),
            running_worker(settings, url, keyspace, BLOCKING),
        ):
            job_id = await producer.enqueue("tests.block", blocker, 5_800)

            async def buried() -> bool:
                return await answering(redis) and await redis.xlen(dead_letters) == 1

            await wait_until(buried, within=40, what="dead letter")
    finally:
        await producer.shutdown()
    [(_, letter)] = await redis.xrange(dead_letters)
    assert letter[b"task_id"] == job_id.encode()
    assert letter[b"error"].startswith(b"townsquare.tasks.errors.RedisTimeoutJobError: ")
    assert letter[b"attempts"] == b"2"
    # Each attempt ran its script once: no reclaim ran it again meanwhile.
    assert await redis.get(keyspace.key("ping", blocker)) == b"2"
    assert any(
        b"RedisTimeoutJobError" in a[b"message"] and a[b"source"] == b"tasks.jobs"
        for a in await alerts(redis, keyspace)
    )


async def test_every_dead_letter_raises_an_alert_in_the_same_transaction(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace
) -> None:
    settings = settings_with(reclaim_interval_seconds=0.2)
    producer = make_brokers(settings, redis_url, keyspace, ["jobs"])["jobs"]
    await producer.startup()
    token = uuid.uuid4().hex
    try:
        job_id = await producer.enqueue("tests.refuse", token)
        async with running_worker(settings, redis_url, keyspace, BLOCKING):

            async def buried() -> bool:
                return await redis.xlen(keyspace.key("dead_letter", "jobs")) == 1

            await wait_until(buried, within=10, what="dead letter")
    finally:
        await producer.shutdown()
    [alert] = await alerts(redis, keyspace)
    assert alert[b"source"] == b"tasks.jobs"
    assert alert[b"level"] == b"error"
    assert f"tests.refuse ({job_id})".encode() in alert[b"message"]
    assert b"PermanentJobError: refused" in alert[b"message"]


async def test_redis_unreachable_for_seconds_is_logged_and_alerted_when_it_answers(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    directory = tmp_path_factory.mktemp("valkey-down")
    directory.chmod(0o755)
    server = start_or_attach_valkey(directory / "valkey")
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    keyspace = Keyspace(f"t{uuid.uuid4().hex[:12]}")
    settings = settings_with(reclaim_interval_seconds=0.2)
    try:
        async with running_worker(settings, server.url, keyspace, BLOCKING):
            client = aioredis.Redis.from_url(server.url)
            stream = keyspace.key("stream", "jobs")

            async def listening() -> bool:
                if not await client.exists(stream):
                    return False
                return bool(await client.xinfo_consumers(stream, CONSUMER_GROUP))

            try:
                await wait_until(listening, within=10, what="the worker reading")
            finally:
                await client.aclose()
            server.stop()
            # The outage itself: four seconds without a server (not a wait for a result).
            await asyncio.sleep(4)
            server = start_or_attach_valkey(directory / "valkey", port=port)
            redis = aioredis.Redis.from_url(server.url)
            try:

                async def alerted() -> bool:
                    try:
                        found = await alerts(redis, keyspace)
                    except (RedisTimeoutError, RedisConnectionError):
                        return False  # the restarted server is still starting
                    return any(b"unreachable" in a[b"message"] for a in found)

                await wait_until(alerted, within=15, what="the outage's alert")
            finally:
                await redis.aclose()
    finally:
        server.stop()
