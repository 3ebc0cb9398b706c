"""A lease is given back however its holder ends, even when the `SET` that took it was
cancelled in flight (`RedisLease.held`, and `run_once`'s lease on a done marker).

Found by the short chaos run: a worker stopping while its reclaim round's `SET` was on the
wire left `reclaim_lock:{ai}` in Redis (the `SET` had been applied, its reply never read), so
no worker reclaimed for 30 s. Here the proxy holds the reply of an applied `SET`, the holder
is cancelled, and the lease must be gone at once rather than left to lapse.
"""

from __future__ import annotations

import asyncio
import typing
import uuid

import pytest

from tests.support.tcp_proxy import proxied_url, tcp_proxy
from tests.support.waiting import wait_until
from townsquare.core.redis_client import connect_redis
from townsquare.tasks.idempotency import done_key, run_once
from townsquare.tasks.locks import RedisLease

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = pytest.mark.integration


async def _cancel_once_redis_applied_the_set(
    redis: aioredis.Redis,
    redis_url: str,
    key: str,
    take: Callable[[aioredis.Redis], Awaitable[None]],
) -> None:
    """Run `take` on a client whose replies the proxy holds, and cancel it once Redis has
    applied its `SET` of `key` (the holder never reads the reply)."""
    async with tcp_proxy(redis_url) as proxy:
        client = connect_redis(proxied_url(redis_url, proxy))
        try:
            await client.ping()  # the pool's one connection, which the SET will reuse
            proxy.hold_replies()
            holder = asyncio.create_task(take(client))
            await wait_until(lambda: redis.exists(key), within=10, what="the SET applied")
            holder.cancel()
            with pytest.raises(asyncio.CancelledError):
                await holder
        finally:
            await client.aclose()


async def test_a_lease_whose_set_was_cancelled_after_redis_applied_it_is_given_back(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace
) -> None:
    key = keyspace.key("reclaim_lock", f"test-{uuid.uuid4().hex}")
    entered: list[bool] = []

    async def take(client: aioredis.Redis) -> None:
        async with RedisLease(client, key, 30).held() as acquired:
            entered.append(acquired)

    await _cancel_once_redis_applied_the_set(redis, redis_url, key, take)
    assert entered == [], "the block ran although the SET's reply never came"
    assert await redis.exists(key) == 0, "the lease was left to lapse on its TTL"


async def test_a_run_once_lease_whose_set_was_cancelled_is_given_back(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace
) -> None:
    event_id = uuid.uuid4().hex
    ran: list[str] = []

    async def work() -> None:
        ran.append(event_id)

    async def take(client: aioredis.Redis) -> None:
        await run_once(client, keyspace, "test", event_id, work)

    key = done_key(keyspace, "test", event_id)
    await _cancel_once_redis_applied_the_set(redis, redis_url, key, take)
    assert ran == []
    assert await redis.exists(key) == 0, "the redelivery would wait for the lease to lapse"
    # The redelivery runs it at once.
    assert await run_once(redis, keyspace, "test", event_id, work) == (True, None)
    assert ran == [event_id]


async def test_a_lease_is_given_back_when_its_block_is_cancelled_and_when_it_ends(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    key = keyspace.key("reclaim_lock", f"test-{uuid.uuid4().hex}")
    inside = asyncio.Event()

    async def hold_until_cancelled() -> None:
        async with RedisLease(redis, key, 30).held() as acquired:
            assert acquired
            inside.set()
            await asyncio.Event().wait()

    holder = asyncio.create_task(hold_until_cancelled())
    await inside.wait()
    assert await redis.exists(key) == 1
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder
    assert await redis.exists(key) == 0

    first, second = RedisLease(redis, key, 30), RedisLease(redis, key, 30)
    async with first.held() as took_first:
        async with second.held() as took_second:
            assert (took_first, took_second) == (True, False)
        # The second holder's block ended without the lease: the first still holds it.
        assert await redis.get(key) == first.token.encode()
    assert await redis.exists(key) == 0


async def test_a_holder_whose_set_was_applied_and_resent_holds_the_lease(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    # A client that lost a reply with its connection sends the command again (the cluster
    # client does): the second SET NX is refused by the holder's own token.
    key = keyspace.key("reclaim_lock", f"test-{uuid.uuid4().hex}")
    holder, other = RedisLease(redis, key, 30), RedisLease(redis, key, 30)
    assert await holder.acquire()
    assert await holder.acquire(), "the holder's own applied SET was taken for another's"
    assert not await other.acquire()
    async with holder.held() as acquired:
        assert acquired
    assert await redis.exists(key) == 0, "the resent SET's lease was left behind"
