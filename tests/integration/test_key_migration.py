"""Keys written before hash tags are renamed to their tagged names (core/key_migration.py)."""

from __future__ import annotations

import typing

from townsquare.core.key_migration import new_name, tag_old_keys
from townsquare.core.keyspace import guild_bucket

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

GUILD = 900_000_000_000_000_261
OTHER = 900_000_000_000_000_262


async def _old_keys(redis: aioredis.Redis, ns: str) -> None:
    """What a deployment of the version before hash tags left (its key names, by hand)."""
    await redis.hset(f"{ns}:xp:{GUILD}", mapping={"7": 120})
    await redis.zadd(f"{ns}:xp_seen:{GUILD}:7", {"0001": 1})
    await redis.set(f"{ns}:xp_loaded:{GUILD}", "1", ex=3600)
    await redis.xadd(f"{ns}:stream:jobs", {"data": "x"})
    await redis.xgroup_create(f"{ns}:stream:jobs", "workers", id="0")
    await redis.zadd(f"{ns}:retry:jobs", {"m": 1})
    await redis.xadd(f"{ns}:alerts", {"message": "hi"})
    await redis.sadd(f"{ns}:xp_dirty_guilds", str(GUILD), str(OTHER))
    await redis.hset(f"{ns}:activity_pending", mapping={f"{GUILD}-5": 3, f"{OTHER}-5": 1})
    await redis.hset(f"{ns}:shard_health:0", mapping={"state": "ready"})  # untagged family
    await redis.set(f"{ns}:schedules:data:end-1", "{}")  # taskiq-redis's, under the prefix
    await redis.rpush(f"{ns}:schedules:time:202612031300", "end-1")


async def test_old_names_are_renamed_and_indexes_split(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    ns = keyspace.namespace
    await _old_keys(redis, ns)

    done = await tag_old_keys(redis, keyspace)

    assert (done.renamed, done.split, done.conflicts) == (8, 2, [])
    schedules = keyspace.key("schedules")
    assert await redis.get(f"{schedules}:data:end-1") == b"{}"
    assert await redis.lrange(f"{schedules}:time:202612031300", 0, -1) == [b"end-1"]
    assert await redis.hget(keyspace.key("xp", GUILD), "7") == b"120"
    assert await redis.zscore(keyspace.key("xp_seen", GUILD, 7), "0001") == 1
    assert 0 < await redis.ttl(keyspace.key("xp_loaded", GUILD)) <= 3600  # the TTL moves along
    groups = await redis.xinfo_groups(keyspace.key("stream", "jobs"))
    assert [group["name"] for group in groups] == [b"workers"]
    assert await redis.zscore(keyspace.key("retry", "jobs"), "m") == 1
    assert await redis.xlen(keyspace.key("alerts")) == 1
    for guild in (GUILD, OTHER):
        bucket = guild_bucket(guild)
        assert await redis.smembers(keyspace.key("xp_dirty_guilds", bucket)) == {
            str(guild).encode()
        }
        pending = await redis.hgetall(keyspace.key("activity_pending", bucket))
        assert list(pending) == [f"{guild}-5".encode()]
    assert await redis.exists(f"{ns}:shard_health:0")
    left = {key async for key in redis.scan_iter(match=f"{ns}:*")}
    assert all(b"{" in key for key in left if not key.startswith(f"{ns}:shard_health".encode()))

    again = await tag_old_keys(redis, keyspace)  # idempotent: a second run finds nothing
    assert (again.renamed, again.split, again.conflicts) == (0, 0, [])


async def test_a_taken_new_name_is_reported_not_overwritten(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    ns = keyspace.namespace
    await redis.hset(f"{ns}:xp:{GUILD}", mapping={"7": 120})
    await redis.hset(keyspace.key("xp", GUILD), mapping={"7": 5})

    done = await tag_old_keys(redis, keyspace)

    assert done.conflicts == [f"{ns}:xp:{GUILD}"]
    assert await redis.hget(keyspace.key("xp", GUILD), "7") == b"5"
    assert await redis.hget(f"{ns}:xp:{GUILD}", "7") == b"120"


def test_new_names(keyspace: Keyspace) -> None:
    ns = keyspace.namespace
    assert new_name(keyspace, f"{ns}:xp:{GUILD}") == keyspace.key("xp", GUILD)
    assert new_name(keyspace, f"{ns}:guild_alerts:{GUILD}") == keyspace.key("guild_alerts", GUILD)
    assert new_name(keyspace, f"{ns}:shard_session:3") == keyspace.key("shard_session", 3)
    assert new_name(keyspace, keyspace.key("xp", GUILD)) is None  # tagged already
    assert new_name(keyspace, f"{ns}:shard_health:3") is None  # a family without a tag
    assert new_name(keyspace, f"{ns}:xp_dirty_guilds") is None  # split, not renamed
    assert new_name(keyspace, f"other:xp:{GUILD}") is None  # another namespace
    assert new_name(keyspace, f"{ns}:schedules:cron") == keyspace.key("schedules") + ":cron"
