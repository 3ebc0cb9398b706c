"""Flushing hot XP from Redis to PostgreSQL as absolute totals.

Every XP change bumps the member's counter in the guild's `xp_dirty` hash. The flush reads
a chunk of dirty members with their counters and totals in one Lua call (a consistent
snapshot), upserts the totals with one statement per chunk, and then removes from
`xp_dirty` only members whose counter is unchanged: a member changed during the flush stays
dirty and is written next time. Rows hold absolute totals, so writing one twice is harmless.
"""

from __future__ import annotations

import typing

from tortoise import Tortoise

from townsquare.core.keyspace import guild_bucket
from townsquare.features.xp.domain.levels import queue_level_jobs

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.features.xp.domain.curve import Curve

__all__ = ["FLUSH_CHUNK", "flush_guild", "flush_xp"]

FLUSH_CHUNK: typing.Final = 1000
"""Members per snapshot and per upsert statement."""

# KEYS: xp_dirty, xp, xp_messages, xp_voice_minutes. ARGV: members.
# Returns per member: counter (or '' when no longer dirty), xp, messages, voice minutes.
_SNAPSHOT_SCRIPT: typing.Final = """
local out = {}
for k = 1, #ARGV do
  local m = ARGV[k]
  out[#out + 1] = redis.call('HGET', KEYS[1], m) or ''
  out[#out + 1] = redis.call('HGET', KEYS[2], m) or '0'
  out[#out + 1] = redis.call('HGET', KEYS[3], m) or '0'
  out[#out + 1] = redis.call('HGET', KEYS[4], m) or '0'
end
return out
"""

# KEYS: xp_dirty, xp_dirty_guilds. ARGV: guild, then member/counter pairs.
_CLEAR_SCRIPT: typing.Final = """
local cleared = 0
for k = 2, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[k]) == ARGV[k + 1] then
    redis.call('HDEL', KEYS[1], ARGV[k])
    cleared = cleared + 1
  end
end
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[1])
end
return cleared
"""

_ENSURE_GUILD = """
INSERT INTO guilds (id, name, joined_at) VALUES ($1, '', now()) ON CONFLICT (id) DO NOTHING
"""

_UPSERT = """
INSERT INTO member_xp (guild_id, user_id, xp, level, message_count, voice_minutes, updated_at)
SELECT $1, t.user_id, t.xp, t.level, t.message_count, t.voice_minutes, now()
FROM unnest($2::bigint[], $3::bigint[], $4::int[], $5::bigint[], $6::bigint[])
    AS t(user_id, xp, level, message_count, voice_minutes)
ON CONFLICT (guild_id, user_id) DO UPDATE SET
    xp = EXCLUDED.xp,
    level = EXCLUDED.level,
    message_count = EXCLUDED.message_count,
    voice_minutes = EXCLUDED.voice_minutes,
    updated_at = EXCLUDED.updated_at
"""


async def flush_guild(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    guild_id: int,
    curve: Curve,
    *,
    chunk: int = FLUSH_CHUNK,
    jobs_maxlen: int | None = None,
) -> int:
    """Write the guild's dirty members to `member_xp`; returns rows written.

    Level jobs a crashed worker left in the guild's outbox are sent on first.
    """
    await queue_level_jobs(redis, keyspace, guild_id, jobs_maxlen=jobs_maxlen)
    dirty_key = keyspace.key("xp_dirty", guild_id)
    index_key = keyspace.key("xp_dirty_guilds", guild_bucket(guild_id))
    snapshot = redis.register_script(_SNAPSHOT_SCRIPT)
    clear = redis.register_script(_CLEAR_SCRIPT)
    keys = [
        dirty_key,
        keyspace.key("xp", guild_id),
        keyspace.key("xp_messages", guild_id),
        keyspace.key("xp_voice_minutes", guild_id),
    ]
    connection = Tortoise.get_connection("default")
    await connection.execute_query(_ENSURE_GUILD, [guild_id])
    written = 0
    members = [int(member) async for member, _ in redis.hscan_iter(dirty_key, count=chunk)]
    for start in range(0, len(members), chunk):
        part = members[start : start + chunk]
        raw = await snapshot(keys=keys, args=part)
        users: list[int] = []
        xps: list[int] = []
        levels: list[int] = []
        messages: list[int] = []
        minutes: list[int] = []
        counters: list[int | bytes] = []
        for position, member in enumerate(part):
            counter, xp, count, voice = raw[4 * position : 4 * position + 4]
            if counter in (b"", ""):
                continue  # flushed meanwhile by another worker
            users.append(member)
            xps.append(int(xp))
            levels.append(curve.level_for(int(xp)))
            messages.append(int(count))
            minutes.append(int(voice))
            counters += [member, counter]
        if not users:
            continue
        await connection.execute_query(_UPSERT, [guild_id, users, xps, levels, messages, minutes])
        await clear(keys=[dirty_key, index_key], args=[guild_id, *counters])
        written += len(users)
    if not members:
        await clear(keys=[dirty_key, index_key], args=[guild_id])
    return written


async def flush_xp(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    curve_of: Callable[[int], Awaitable[Curve]],
    *,
    chunk: int = FLUSH_CHUNK,
    jobs_maxlen: int | None = None,
) -> int:
    """Flush every guild with dirty members; `curve_of(guild_id)` gives its level curve."""
    written = 0
    guilds = [
        int(g)
        for index_key in keyspace.bucket_keys("xp_dirty_guilds")
        async for g in redis.sscan_iter(index_key, count=1000)
    ]
    for guild_id in guilds:
        written += await flush_guild(
            redis,
            keyspace,
            guild_id,
            await curve_of(guild_id),
            chunk=chunk,
            jobs_maxlen=jobs_maxlen,
        )
    return written
