"""The script slot check itself (tests/support/cluster_slots.py) catches a cross-slot call."""

from __future__ import annotations

import typing

import pytest

from tests.support.cluster_slots import CrossSlotError
from townsquare.core.keyspace import guild_bucket
from townsquare.core.redis_batch import CommandBatcher

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

GUILD = 900_000_000_000_000_777


async def test_a_script_over_one_guilds_keys_runs(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    script = redis.register_script("return #KEYS")
    keys = [keyspace.key("xp", GUILD), keyspace.key("xp_dirty_guilds", guild_bucket(GUILD))]
    assert await script(keys=keys) == 2


async def test_a_script_over_two_slots_is_refused(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    script = redis.register_script("return #KEYS")
    with pytest.raises(CrossSlotError, match="span 2 cluster slots"):
        await script(keys=[keyspace.key("xp", GUILD), keyspace.key("stream", "jobs")])


async def test_an_eval_sent_by_hand_over_two_slots_is_refused(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    keys = [keyspace.key("xp", GUILD), keyspace.key("stream", "jobs")]
    with pytest.raises(CrossSlotError):
        await redis.execute_command("EVAL", "return #KEYS", 2, *keys)
    with pytest.raises(CrossSlotError):
        await CommandBatcher(redis).execute_command("EVAL", "return #KEYS", 2, *keys)
    assert await redis.execute_command("EVAL", "return #KEYS", 1, keys[0]) == 1
