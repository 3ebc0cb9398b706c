"""Shard leases and recorded gateway sessions, against a real Redis."""

from __future__ import annotations

import asyncio
import socket
import sys
import typing

import pytest

from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.waiting import wait_until
from townsquare.shards.publisher import BatchPublisher, StreamEntry, StreamTransport
from townsquare.shards.resume import GatewaySession
from townsquare.shards.sessions import (
    WRITE_EVERY_SECONDS,
    SessionRecorder,
    SessionStore,
    gateway_mark,
)

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

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
    # A record made with another shard count or identity is not a session of this shard.
    assert await SessionStore(redis, keyspace, shard_count=4).load(0) is None
    other = SessionStore(redis, keyspace, shard_count=2, identity="another sandbox")
    assert await other.load(0) is None
    assert await second.load(1) is None


async def test_a_lease_left_by_a_killed_process_elsewhere_is_claimed_once_it_runs_out(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    # As a killed process on another host leaves it (a short lease, for the test's sake).
    await redis.set(keyspace.key("shard_lease", 0), "elsewhere:1:x", px=300)
    store = SessionStore(redis, keyspace, shard_count=1)
    assert await store.acquire([0], wait=10) == {0}
    assert await redis.get(keyspace.key("shard_lease", 0)) == store.owner.encode()


async def test_renewals_keep_a_quiet_shards_record_and_notice_a_lost_lease(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    store = SessionStore(redis, keyspace, shard_count=1, owner="a:1:x")
    recorder = SessionRecorder(store, publisher(), [0])
    await recorder.renew()
    assert recorder.owned == {0}
    assert await store.record({0: gateway_mark(SESSION)}) == {0}
    session_key = keyspace.key("shard_session", 0)
    await redis.expire(session_key, 5)
    await recorder.renew()
    assert await redis.ttl(session_key) > 5
    assert not recorder.lease_lost.is_set()
    thief = SessionStore(redis, keyspace, shard_count=1, owner="b:2:y")
    assert await thief.claim(0, replacing="a:1:x") == ""
    await recorder.renew()
    assert recorder.lease_lost.is_set()
    assert recorder.owned == set()


async def test_a_busy_shards_positions_are_written_at_most_every_interval_and_the_last_kept(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    writes: list[int] = []

    class Counted(SessionStore):
        async def record(self, marks: typing.Any) -> set[int]:
            writes.append(len(marks))
            return await super().record(marks)

    store = Counted(redis, keyspace, shard_count=1, owner="a:1:x")
    source = publisher()
    recorder = SessionRecorder(store, source, [0])
    await recorder.renew()
    running = asyncio.create_task(recorder.run())
    loop = asyncio.get_running_loop()
    started = loop.time()
    seq = 0
    while loop.time() - started < 0.3:  # a dispatch a millisecond, as a busy shard sees
        seq += 1
        source.mark(0, gateway_mark(GatewaySession("abc", SESSION.resume_url, seq, 7)))
        await asyncio.sleep(0.001)
    elapsed = loop.time() - started

    async def last_written() -> bool:
        session = await store.load(0)
        return session is not None and session.seq == seq

    await wait_until(last_written, within=10, what="the last position written")
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    # Unpaced, the recorder wrote once per Redis round trip (a hundred times and more here).
    assert len(writes) <= elapsed / WRITE_EVERY_SECONDS + 2, (len(writes), seq)


class _Nowhere(StreamTransport):
    async def send(self, entries: Sequence[StreamEntry]) -> None:
        raise AssertionError("nothing is published here")


def publisher() -> BatchPublisher:
    return BatchPublisher(_Nowhere(), batch_size=1, batch_ms=1, buffer_limit=1)


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
