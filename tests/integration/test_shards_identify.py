"""The identify gate (`townsquare/shards/identify.py`) against a real Redis: two gates stand
for two shard processes (on any hosts) sharing it."""

from __future__ import annotations

import asyncio
import time
import typing

import pytest
import redis.asyncio as aioredis

from townsquare.shards.identify import MARGIN_SECONDS, IdentifyGate

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from townsquare.core.keyspace import Keyspace

pytestmark = pytest.mark.integration

INTERVAL = 0.3
"""Short, for the test's sake (Discord's is 5 s)."""


@pytest.fixture
async def other_process(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A second Redis connection: another shard process's."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


class Sleeps:
    """Records the gate's waits, then really waits."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(seconds)


async def test_one_identify_per_bucket_per_interval_across_processes(
    redis: aioredis.Redis, other_process: aioredis.Redis, keyspace: Keyspace
) -> None:
    first = IdentifyGate(redis, keyspace, interval=INTERVAL, max_concurrency=2)
    sleeps = Sleeps()
    second = IdentifyGate(
        other_process, keyspace, interval=INTERVAL, max_concurrency=2, sleep=sleeps
    )
    permit = await first.acquire(0)
    assert permit is not None
    assert permit.bucket == 0
    await first.sent(permit)
    sent_at = time.monotonic()
    ttl = await redis.pttl(keyspace.key("identify_slot", 0))
    assert 0 < ttl <= round((INTERVAL + MARGIN_SECONDS) * 1000)
    # Another bucket identifies at once.
    assert (await second.acquire(1)) is not None
    assert sleeps.waits == []
    # The same bucket (2 % 2 == 0) waits a whole interval after the IDENTIFY left.
    assert (await second.acquire(2)) is not None
    assert time.monotonic() - sent_at >= INTERVAL
    assert sleeps.waits


async def test_a_dead_processs_slot_frees_itself(
    redis: aioredis.Redis, other_process: aioredis.Redis, keyspace: Keyspace
) -> None:
    dead = IdentifyGate(redis, keyspace, interval=INTERVAL, max_concurrency=1)
    assert (await dead.acquire(0)) is not None  # and it never says it sent: it died
    acquired_at = time.monotonic()
    alive = IdentifyGate(other_process, keyspace, interval=INTERVAL, max_concurrency=1)
    async with asyncio.timeout(5):
        assert (await alive.acquire(3)) is not None
    assert time.monotonic() - acquired_at >= INTERVAL


async def test_a_slot_without_expiry_gets_one(redis: aioredis.Redis, keyspace: Keyspace) -> None:
    key = keyspace.key("identify_slot", 0)
    await redis.set(key, "written by hand")
    gate = IdentifyGate(redis, keyspace, interval=INTERVAL, max_concurrency=1)
    async with asyncio.timeout(5):
        assert (await gate.acquire(0)) is not None


async def test_max_concurrency_is_asked_once(redis: aioredis.Redis, keyspace: Keyspace) -> None:
    asked = 0

    async def max_concurrency() -> int:
        nonlocal asked
        asked += 1
        await asyncio.sleep(0)
        return 4

    gate = IdentifyGate(redis, keyspace, interval=INTERVAL, max_concurrency=max_concurrency)
    permits = await asyncio.gather(*(gate.acquire(n) for n in range(4)))
    assert [p.bucket for p in permits if p is not None] == [0, 1, 2, 3]
    assert asked == 1


async def test_max_concurrency_is_asked_again_until_it_is_known(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    answers: list[int | Exception] = [ConnectionError("GET /gateway/bot failed"), 4]

    async def max_concurrency() -> int:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    sleeps = Sleeps()
    gate = IdentifyGate(
        redis, keyspace, interval=INTERVAL, max_concurrency=max_concurrency, sleep=sleeps
    )
    assert await gate.bucket(3) == 3
    assert sleeps.waits == [INTERVAL]
    assert await gate.bucket(5) == 1  # kept
    assert answers == []


async def test_without_redis_a_shard_waits_one_interval(keyspace: Keyspace) -> None:
    unreachable = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    sleeps = Sleeps()
    gate = IdentifyGate(unreachable, keyspace, interval=INTERVAL, max_concurrency=1, sleep=sleeps)
    try:
        assert await gate.acquire(0) is None
        await gate.sent(None)
    finally:
        await unreachable.aclose()
    assert sleeps.waits == [INTERVAL + MARGIN_SECONDS]


async def test_an_interval_of_zero_turns_the_gate_off(keyspace: Keyspace) -> None:
    unused = aioredis.Redis.from_url("redis://127.0.0.1:1/0")
    gate = IdentifyGate(unused, keyspace, interval=0, max_concurrency=1)
    assert not gate.enabled
    assert await gate.acquire(0) is None
    await unused.aclose()
