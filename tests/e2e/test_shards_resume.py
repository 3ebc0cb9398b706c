"""`run_shards` twice in a row against one sandbox: the second run resumes the first's session.

The sandbox, the real hikari `GatewayBot` (`run_shards`, in this test's event loop) and real
Redis. Stopping keeps the session resumable, and the next run replays what came meanwhile;
a recorded session the gateway no longer has is replaced by a new one.
"""

from __future__ import annotations

import asyncio
import typing

import pytest

from tests.support.sandbox import target_of
from tests.support.shards import message_ids, shards_running, stream_records
from tests.support.waiting import wait_until
from townsquare.core.settings import load_settings
from townsquare.sandbox import Sandbox
from townsquare.sandbox.intents import Intent
from townsquare.sandbox.world import Dispatch
from townsquare.sandbox.world.payloads import guild_payload
from townsquare.shards import ShardLeaseLostError, run_shards
from townsquare.shards.intents import gateway_intents
from townsquare.shards.resume import GatewaySession
from townsquare.shards.sessions import SessionStore, gateway_mark, session_identity

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

WITHIN = 45.0


async def guild_records(redis: aioredis.Redis, keyspace: Keyspace) -> int:
    return sum(1 for r in await stream_records(redis, keyspace) if r["kind"] == "guild")


async def test_the_next_run_resumes_the_session_and_replays_what_came_meanwhile(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace
) -> None:
    settings = load_settings(environ={}, env_file=None)
    sandbox = Sandbox()
    async with sandbox as info:
        guild = next(iter(sandbox.world.guilds.values()))
        general = next(c for c in guild.channels.values() if c.name == "general")
        author = next(m for m in guild.members if m != sandbox.world.application.bot_user_id)
        session_key = keyspace.key("shard_session", 0)

        async with shards_running(settings, redis_url, keyspace, info):

            async def ready() -> bool:
                return bool(await guild_records(redis, keyspace)) and bool(
                    await redis.hget(session_key, "session_id")
                )

            await wait_until(ready, within=WITHIN, what="the guild record and the session")
        first = await redis.hgetall(session_key)
        assert not await redis.exists(keyspace.key("shard_lease", 0))  # released on stop
        [session] = sandbox.hub.sessions.values()
        assert session.outbox is None  # stopped without ending the session
        meanwhile = sandbox.world.create_message(general, author, "while no shard runs").id

        async with shards_running(settings, redis_url, keyspace, info):

            async def replayed() -> bool:
                return meanwhile in await message_ids(redis, keyspace)

            await wait_until(replayed, within=WITHIN, what="the message of the gap")
            # Resumed: no READY, no GUILD_CREATE. A GUILD_UPDATE now publishes no guild record
            # (this process never received the guild, so it does not know who is in voice).
            world = sandbox.world
            world.emit(Dispatch("GUILD_UPDATE", guild.id, Intent.GUILDS, guild_payload(guild)))
            after = world.create_message(general, author, "after the update").id

            async def arrived() -> bool:
                return after in await message_ids(redis, keyspace)

            await wait_until(arrived, within=WITHIN, what="the message after the update")
        health = await redis.hgetall(keyspace.key("shard_health", 0))  # written at the stop
        assert health[b"resumes"] == b"1"
        assert health[b"session_id"] == first[b"session_id"]
        assert len(sandbox.hub.sessions) == 1
    assert await guild_records(redis, keyspace) == 1
    assert await message_ids(redis, keyspace) == [meanwhile, after]
    last = await redis.hgetall(session_key)
    assert last[b"session_id"] == first[b"session_id"]
    assert int(last[b"seq"]) > int(first[b"seq"])


async def test_a_recorded_session_the_gateway_no_longer_has_is_replaced(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace
) -> None:
    settings = load_settings(environ={}, env_file=None)
    async with Sandbox() as info:
        identity = session_identity(
            info.rest_url, info.application_id, int(gateway_intents(settings))
        )
        store = SessionStore(redis, keyspace, shard_count=1, identity=identity)
        assert await store.acquire([0], wait=0) == {0}
        gone = GatewaySession("gone", info.gateway_url, 5, info.application_id)
        assert await store.record({0: gateway_mark(gone)}) == {0}
        await store.release([0])
        session_key = keyspace.key("shard_session", 0)

        async with shards_running(settings, redis_url, keyspace, info):

            async def identified() -> bool:  # INVALID_SESSION (false), then IDENTIFY
                new = await redis.hget(session_key, "session_id")
                return new not in {None, b"gone"} and bool(await guild_records(redis, keyspace))

            await wait_until(identified, within=WITHIN, what="a new session and its guild")


async def test_a_process_whose_lease_another_took_stops_and_leaves_the_session_to_it(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace
) -> None:
    settings = load_settings(environ={}, env_file=None)
    sandbox = Sandbox()
    async with sandbox as info:
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_shards(settings, redis_url, keyspace, target_of(info), (0,), 1, shutdown=stop)
        )
        session_key = keyspace.key("shard_session", 0)

        async def recorded() -> bool:
            return bool(await redis.hget(session_key, "session_id"))

        await wait_until(recorded, within=WITHIN, what="the session recorded")
        lease = await redis.get(keyspace.key("shard_lease", 0))
        assert lease is not None
        # Another process takes the shard over (as after this one could not renew for 10 s).
        identity = session_identity(
            info.rest_url, info.application_id, int(gateway_intents(settings))
        )
        thief = SessionStore(
            redis, keyspace, shard_count=1, identity=identity, owner="elsewhere:1:x"
        )
        assert await thief.claim(0, replacing=lease.decode()) == ""
        with pytest.raises(ShardLeaseLostError):
            async with asyncio.timeout(WITHIN):
                await task
        # It neither recorded over the new holder's record nor ended the session.
        assert await redis.get(keyspace.key("shard_lease", 0)) == b"elsewhere:1:x"
        recorded_session = await thief.load(0)
        assert recorded_session is not None
        [session] = sandbox.hub.sessions.values()
        assert session.session_id == recorded_session.session_id
        assert session.outbox is None  # resumable by the new holder
