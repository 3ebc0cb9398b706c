"""The entry store: entries live in Redis while a giveaway runs, flushed to PostgreSQL in batches.

A click is one Lua call (:func:`enter`, :func:`leave`) that checks the giveaway is open and
changes the member's entry, marks it dirty and flags the giveaway for the count edit, so a
repeated click changes nothing and the flush never misses a change. The flush
(:func:`flush_entries`) writes dirty entries in chunks and clears only those whose change
counter did not move meanwhile (a click during the flush is written next time), so a flush that
dies midway is simply repeated. A Redis loss after a flush loses nothing; one before it loses
the clicks since the last flush (docs/giveaways.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import typing

import orjson
from redis.exceptions import NoScriptError
from tortoise import Tortoise

from townsquare.core.keyspace import guild_bucket

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = [
    "FLUSH_CHUNK",
    "Click",
    "Commands",
    "OpenGiveaway",
    "close_entries",
    "enter",
    "entry_count",
    "flush_entries",
    "flush_giveaway",
    "is_giveaway_message",
    "leave",
    "open_entries",
    "read_open",
    "reload_entries",
]

FLUSH_CHUNK: typing.Final = 1000
CLOSED_TTL_SECONDS: typing.Final = 86_400

# KEYS: giveaway, entries, dirty, dirty_ids, counts. ARGV: user, weight ('' to leave), id.
# Returns {status, count}: status -1 closed, 0 unchanged, 1 entered/left, 2 weight changed.
_CLICK_SCRIPT: typing.Final = """
if redis.call('HGET', KEYS[1], 'state') ~= 'open' then return {-1, 0} end
local old = redis.call('HGET', KEYS[2], ARGV[1])
local status = 1
if ARGV[2] == '' then
    if not old then return {0, redis.call('HLEN', KEYS[2])} end
    redis.call('HDEL', KEYS[2], ARGV[1])
else
    if old == ARGV[2] then return {0, redis.call('HLEN', KEYS[2])} end
    if old then status = 2 end
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
redis.call('SADD', KEYS[4], ARGV[3])
redis.call('SADD', KEYS[5], ARGV[3])
return {status, redis.call('HLEN', KEYS[2])}
"""

# KEYS: dirty, entries. ARGV: users. Returns counter, weight ('' when left) per user.
_SNAPSHOT_SCRIPT: typing.Final = """
local out = {}
for i, user in ipairs(ARGV) do
    out[2 * i - 1] = redis.call('HGET', KEYS[1], user) or ''
    out[2 * i] = redis.call('HGET', KEYS[2], user) or ''
end
return out
"""

# KEYS: dirty, dirty_ids. ARGV: id, then user, counter pairs. Clears unchanged counters.
_CLEAR_SCRIPT: typing.Final = """
for i = 2, #ARGV, 2 do
    if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
        redis.call('HDEL', KEYS[1], ARGV[i])
    end
end
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return 0
"""

_UPSERT: typing.Final = """
INSERT INTO giveaway_entries (giveaway_id, user_id, weight, active, entered_at, updated_at)
SELECT $1, t.user_id, t.weight, t.active, now(), now()
FROM unnest($2::bigint[], $3::int[], $4::bool[]) AS t(user_id, weight, active)
ON CONFLICT (giveaway_id, user_id) DO UPDATE SET
    weight = EXCLUDED.weight,
    active = EXCLUDED.active,
    updated_at = EXCLUDED.updated_at
"""


@dataclasses.dataclass(frozen=True, slots=True)
class OpenGiveaway:
    """What a click needs to know, as the lifecycle wrote it into Redis."""

    giveaway_id: int
    guild_id: int
    open: bool
    requirements: dict[str, typing.Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Click:
    """A click's outcome: `status` -1 closed, 0 nothing changed, 1 entered/left, 2 reweighed."""

    status: int
    count: int


def _keys(keyspace: Keyspace, giveaway_id: int) -> list[str]:
    return [
        keyspace.key("giveaway", giveaway_id),
        keyspace.key("giveaway_entries", giveaway_id),
        keyspace.key("giveaway_dirty", giveaway_id),
        keyspace.key("giveaway_dirty_ids", guild_bucket(giveaway_id)),
        keyspace.key("giveaway_counts", guild_bucket(giveaway_id)),
    ]


async def open_entries(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    giveaway_id: int,
    guild_id: int,
    requirements: dict[str, typing.Any],
    *,
    message_id: int | None,
) -> None:
    """Open the giveaway to clicks (idempotent); its message, once known, is remembered.

    The message is remembered first (it is in another cluster slot than the giveaway): a
    crash in between leaves a known message whose giveaway the redelivered job opens.
    """
    key = keyspace.key("giveaway", giveaway_id)
    if message_id is not None:
        await redis.sadd(keyspace.key("giveaway_messages"), str(message_id))
    async with redis.pipeline(transaction=True) as tx:
        tx.hset(
            key,
            mapping={
                "state": "open",
                "guild_id": str(guild_id),
                "requirements": orjson.dumps(requirements).decode(),
            },
        )
        tx.persist(key)
        await tx.execute()


async def close_entries(
    redis: aioredis.Redis, keyspace: Keyspace, giveaway_id: int, message_id: int | None
) -> None:
    """No more clicks count; the keys go a day later (a late flush still finds them).

    The message is forgotten last (it is in another cluster slot than the giveaway): a crash
    in between leaves a remembered message whose redelivered job forgets it.
    """
    keys = _keys(keyspace, giveaway_id)
    async with redis.pipeline(transaction=True) as tx:
        tx.hset(keys[0], "state", "closed")
        tx.expire(keys[0], CLOSED_TTL_SECONDS)
        tx.expire(keys[1], CLOSED_TTL_SECONDS)
        await tx.execute()
    if message_id is not None:
        await redis.srem(keyspace.key("giveaway_messages"), str(message_id))


async def read_open(
    redis: aioredis.Redis, keyspace: Keyspace, giveaway_id: int
) -> OpenGiveaway | None:
    """The giveaway as a click sees it, or None when Redis does not know it."""
    raw = await redis.hgetall(keyspace.key("giveaway", giveaway_id))
    if not raw:
        return None
    fields = {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}
    state = fields.get("state", b"")
    return OpenGiveaway(
        giveaway_id=giveaway_id,
        guild_id=int(fields.get("guild_id", 0)),
        open=(state.decode() if isinstance(state, bytes) else state) == "open",
        requirements=orjson.loads(fields.get("requirements", b"{}")),
    )


async def enter(
    redis: Commands, keyspace: Keyspace, giveaway_id: int, user_id: int, weight: int
) -> Click:
    """Enter (or re-weigh) `user_id` with `weight` entries."""
    return await _click(redis, keyspace, giveaway_id, user_id, str(weight))


async def leave(redis: Commands, keyspace: Keyspace, giveaway_id: int, user_id: int) -> Click:
    """Take `user_id`'s entry out (until the end: they may enter again)."""
    return await _click(redis, keyspace, giveaway_id, user_id, "")


_CLICK_SHA: typing.Final = hashlib.sha1(_CLICK_SCRIPT.encode(), usedforsecurity=False).hexdigest()


class Commands(typing.Protocol):
    """A Redis client, or the kernel's `CommandBatcher` (clicks of one loop turn share one
    pipeline: a burst of clicks needs a few connections, not one each)."""

    async def execute_command(self, *args: typing.Any) -> typing.Any: ...


async def _click(
    redis: Commands, keyspace: Keyspace, giveaway_id: int, user_id: int, weight: str
) -> Click:
    keys = _keys(keyspace, giveaway_id)
    args = (user_id, weight, giveaway_id)
    try:
        status, count = await redis.execute_command("EVALSHA", _CLICK_SHA, len(keys), *keys, *args)
    except NoScriptError:
        status, count = await redis.execute_command("EVAL", _CLICK_SCRIPT, len(keys), *keys, *args)
    return Click(int(status), int(count))


async def reload_entries(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    giveaway_id: int,
    entries: typing.Sequence[tuple[int, int]],
    *,
    chunk: int = FLUSH_CHUNK,
) -> None:
    """Put flushed entries back into Redis (after a Redis loss), before the giveaway reopens."""
    key = keyspace.key("giveaway_entries", giveaway_id)
    for start in range(0, len(entries), chunk):
        part = entries[start : start + chunk]
        await redis.hset(key, mapping={str(user): str(weight) for user, weight in part})


async def is_giveaway_message(redis: aioredis.Redis, keyspace: Keyspace, message_id: int) -> bool:
    """Whether `message_id` is a running giveaway's message."""
    return bool(await redis.sismember(keyspace.key("giveaway_messages"), str(message_id)))


async def entry_count(redis: aioredis.Redis, keyspace: Keyspace, giveaway_id: int) -> int:
    count: int = await redis.hlen(keyspace.key("giveaway_entries", giveaway_id))
    return count


async def flush_giveaway(
    redis: aioredis.Redis, keyspace: Keyspace, giveaway_id: int, *, chunk: int = FLUSH_CHUNK
) -> int:
    """Write the giveaway's dirty entries to PostgreSQL; returns entries written."""
    dirty_key = keyspace.key("giveaway_dirty", giveaway_id)
    entries_key = keyspace.key("giveaway_entries", giveaway_id)
    snapshot = redis.register_script(_SNAPSHOT_SCRIPT)
    clear = redis.register_script(_CLEAR_SCRIPT)
    clear_keys = [dirty_key, keyspace.key("giveaway_dirty_ids", guild_bucket(giveaway_id))]
    connection = Tortoise.get_connection("default")
    members = [int(member) async for member, _ in redis.hscan_iter(dirty_key, count=chunk)]
    written = 0
    for start in range(0, len(members), chunk):
        part = members[start : start + chunk]
        raw = await snapshot(keys=[dirty_key, entries_key], args=part)
        users: list[int] = []
        weights: list[int] = []
        active: list[bool] = []
        counters: list[int | bytes] = []
        for index, user_id in enumerate(part):
            counter, weight = raw[2 * index], raw[2 * index + 1]
            if counter in (b"", ""):
                continue  # flushed meanwhile by another worker
            users.append(user_id)
            weights.append(int(weight) if weight not in (b"", "") else 1)
            active.append(weight not in (b"", ""))
            counters += [user_id, counter]
        if users:
            await connection.execute_query(_UPSERT, [giveaway_id, users, weights, active])
            await clear(keys=clear_keys, args=[giveaway_id, *counters])
            written += len(users)
    if not members:
        await clear(keys=clear_keys, args=[giveaway_id])
    return written


async def flush_entries(redis: aioredis.Redis, keyspace: Keyspace) -> int:
    """Flush every giveaway with dirty entries; returns entries written."""
    ids = [
        int(g)
        for index_key in keyspace.bucket_keys("giveaway_dirty_ids")
        async for g in redis.sscan_iter(index_key, count=1000)
    ]
    written = 0
    for giveaway_id in ids:
        written += await flush_giveaway(redis, keyspace, giveaway_id)
    return written
