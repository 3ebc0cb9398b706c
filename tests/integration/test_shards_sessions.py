"""Shard leases and recorded gateway sessions, against a real Redis."""

from __future__ import annotations

import asyncio
import socket
import sys
import typing

import pytest

from townsquare.shards.resume import GatewaySession
from townsquare.shards.sessions import SessionStore, gateway_mark

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = pytest.mark.integration

SESSION = GatewaySession("abc", "ws://127.0.0.1:1/gateway", 42, 7)


async def test_only_the_lease_holder_resumes_and_records_a_session(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    first = SessionStore(redis, keyspace, shard_count=2, owner="a:1:x")
    second = SessionStore(redis, keyspace, shard_count=2, owner="b:2:y")
    assert await first.acquire([0, 1], wait=0) == {0, 1}
    assert await first.record({0: gateway_mark(SESSION)}) == {0}
    # Held by a live process (another host): not claimed, and nothing recorded over it.
    assert await second.acquire([0], wait=0) == set()
    moved = GatewaySession("other", SESSION.resume_url, 1, 7)
    assert await second.record({0: gateway_mark(moved)}) == set()
    assert await second.load(0) == SESSION
    await first.release([0])
    assert await second.acquire([0], wait=0) == {0}
    assert await first.record({0: gateway_mark(moved)}) == set()  # the lease moved on
    # A record made with another shard count is not a session of this shard.
    assert await SessionStore(redis, keyspace, shard_count=4).load(0) is None
    assert await second.load(1) is None


async def test_a_lease_of_a_process_gone_from_this_host_is_taken_over_at_once(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await process.wait()
    gone = f"{socket.gethostname()}:{process.pid}:x"
    await SessionStore(redis, keyspace, shard_count=1, owner=gone).claim(0)
    alive = f"{socket.gethostname()}:1:x"  # pid 1 exists
    await SessionStore(redis, keyspace, shard_count=1, owner=alive).claim(1)
    store = SessionStore(redis, keyspace, shard_count=1)
    assert await store.acquire([0, 1], wait=0) == {0}
