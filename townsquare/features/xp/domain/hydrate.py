"""A guild's XP is loaded before it is written or read.

Redis holds the hot totals and PostgreSQL (`member_xp`) what the flush last wrote. If Redis
loses its data, an award would start a member from 0 and the next flush would overwrite the
member's row with that small total; `xp_levels` would be gone too, so members would be told
again of levels they reached long ago. Hence the rule:

- the guild's `xp_loaded` marker says its `member_xp` rows are in the hashes `xp`,
  `xp_messages`, `xp_voice_minutes` and `xp_levels`;
- every Lua script that writes those hashes first checks the marker and refuses with
  `XP_NOT_LOADED` without it (:func:`require_loaded`), so no write can slip in between a
  check in Python and the script;
- callers run the script through :func:`run_loaded`, which loads the guild and runs it once
  more; readers call :func:`ensure_guild_xp` first.

A load proves that Redis kept its data while it ran: it starts by setting a key of its own
(`xp_loading`, per guild and load), every page checks that key first and the marker is set only
if it is still there, in the same script. Had Redis lost its data during the load (or during
another worker's load), that key is gone too: the load starts again instead of vouching for
half the rows. (Redis must not evict keys: `maxmemory-policy noeviction`, which the streams
need as well.)

The load uses HSETNX: a value already in Redis wins. Where Redis has one it is the newer: a
deployment upgraded with data but no marker yet holds the changes since the last flush, and
a load racing an award that followed another worker's load must not undo that award. So
loads are idempotent and several workers may run one at once.
"""

from __future__ import annotations

import asyncio
import typing
import uuid

from redis.exceptions import ResponseError
from tortoise import Tortoise

from townsquare.core.redis_health import cleanup_or_lapse

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = [
    "LOAD_ATTEMPTS",
    "LOAD_CHUNK",
    "NOT_LOADED",
    "LoadInterruptedError",
    "ensure_guild_xp",
    "load_guild_xp",
    "require_loaded",
    "run_loaded",
]

LOAD_CHUNK: typing.Final = 1000
"""Members per PostgreSQL page and per Lua call."""
NOT_LOADED: typing.Final = "XP_NOT_LOADED"
"""The error a gated script replies with when the guild's marker is missing."""
LOAD_ATTEMPTS: typing.Final = 3
"""Loads started over (Redis lost its data meanwhile) before giving up."""
_INTERRUPTED: typing.Final = "XP_LOAD_INTERRUPTED"


class LoadInterruptedError(RuntimeError):
    """Redis lost its data during every attempt to load a guild."""


def require_loaded(marker: str) -> str:
    """The Lua statement every script writing the XP hashes starts with.

    `marker` is the Lua expression naming the guild's `xp_loaded` key, e.g. `KEYS[#KEYS]`.
    """
    return (
        f"if redis.call('EXISTS', {marker}) == 0 then "
        f"return redis.error_reply('{NOT_LOADED}') end\n"
    )


# KEYS: xp, xp_messages, xp_voice_minutes, xp_levels, this load's xp_loading key.
# ARGV: per member: id, xp, messages, voice minutes, level. A 0 is not written (an absent
# field reads as 0 everywhere). Returns how many members got a value from PostgreSQL.
_LOAD_SCRIPT: typing.Final = f"""
if redis.call('EXISTS', KEYS[5]) == 0 then return redis.error_reply('{_INTERRUPTED}') end
local restored = 0
for k = 1, #ARGV, 5 do
  local set = 0
  for offset = 1, 4 do
    if ARGV[k + offset] ~= '0' then
      set = set + redis.call('HSETNX', KEYS[offset], ARGV[k], ARGV[k + offset])
    end
  end
  if set > 0 then restored = restored + 1 end
end
return restored
"""

# KEYS: this load's xp_loading key, xp_loaded. Sets the marker only if the load's key survived.
_FINISH_SCRIPT: typing.Final = f"""
if redis.call('DEL', KEYS[1]) == 0 then return redis.error_reply('{_INTERRUPTED}') end
redis.call('SET', KEYS[2], '1')
return 1
"""

_PAGE = """
SELECT user_id, xp, message_count, voice_minutes, level FROM member_xp
WHERE guild_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3
"""


async def load_guild_xp(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, *, chunk: int = LOAD_CHUNK
) -> int:
    """Copy the guild's `member_xp` rows into Redis where Redis has no value; set the marker.

    Returns the members that got a value from PostgreSQL (0 when Redis had them all). Starts
    over if Redis loses its data meanwhile; :class:`LoadInterruptedError` after
    :data:`LOAD_ATTEMPTS` such losses.
    """
    for _ in range(LOAD_ATTEMPTS):
        try:
            return await _load_once(redis, keyspace, guild_id, chunk)
        except ResponseError as error:
            if str(error) != _INTERRUPTED:
                raise
    raise LoadInterruptedError(f"Redis lost its data during {LOAD_ATTEMPTS} loads of {guild_id}")


async def _load_once(redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, chunk: int) -> int:
    load = redis.register_script(_LOAD_SCRIPT)
    finish = redis.register_script(_FINISH_SCRIPT)
    token = keyspace.key("xp_loading", guild_id, uuid.uuid4().hex)
    try:
        await redis.set(token, 1, ex=keyspace.ttl("xp_loading"))
        keys = [
            *(
                keyspace.key(family, guild_id)
                for family in ("xp", "xp_messages", "xp_voice_minutes", "xp_levels")
            ),
            token,
        ]
        connection = Tortoise.get_connection("default")
        restored, after = 0, 0
        while True:
            rows = await connection.execute_query_dict(_PAGE, [guild_id, after, chunk])
            if not rows:
                break
            args: list[int] = []
            for row in rows:
                args += [row["user_id"], row["xp"], row["message_count"], row["voice_minutes"]]
                args.append(row["level"])
            restored += int(await load(keys=keys, args=args))
            if len(rows) < chunk:
                break
            after = rows[-1]["user_id"]
        await finish(keys=[token, keyspace.key("xp_loaded", guild_id)])
    except BaseException:
        # A load that fails or is cancelled (a worker stopping) takes its key with it rather
        # than leave it for its TTL; a SIGKILLed one leaves it, which is what the TTL is for.
        await cleanup_or_lapse(redis.delete(token), key=token)
        raise
    return restored


_IN_FLIGHT: dict[tuple[str, int], asyncio.Task[int]] = {}
"""This process's running loads, by namespace and guild (see :func:`_shared_load`).

Module-level on purpose, not on a resources object: its callers (every XP reader and writer,
in the HTTP service, the workers and the CLI) are handed only Redis and a keyspace, and it
holds no data, only the loads running now; an entry is keyed by the keyspace's namespace,
checked against the running loop and removed when its load ends, so apps or workers in one
interpreter share a load only when it is the very same load."""

_FINISHED: dict[str, int] = {}
"""Loads this process has finished, per namespace (see :func:`_load_unless_loaded_since`)."""


async def _shared_load(redis: aioredis.Redis, keyspace: Keyspace, guild_id: int) -> int:
    """:func:`load_guild_xp`, run once for every caller of this process that needs it meanwhile.

    After a loss, every request and batch of a busy guild finds the marker missing at once;
    one load serves them all instead of one each. A caller that is cancelled does not cancel
    the load the others wait for.
    """
    key = (keyspace.namespace, guild_id)
    task = _IN_FLIGHT.get(key)
    if task is None or task.get_loop() is not asyncio.get_running_loop():
        task = asyncio.ensure_future(load_guild_xp(redis, keyspace, guild_id))
        _IN_FLIGHT[key] = task

        def forget(done: asyncio.Task[int]) -> None:
            if _IN_FLIGHT.get(key) is done:
                del _IN_FLIGHT[key]
            if not done.cancelled() and done.exception() is None:
                _FINISHED[keyspace.namespace] = _FINISHED.get(keyspace.namespace, 0) + 1

        task.add_done_callback(forget)
    return await asyncio.shield(task)


async def _load_unless_loaded_since(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, seen: int
) -> None:
    """Load the guild, unless a load of this process finished since the caller looked.

    A caller's check (EXISTS, or a script refusing) can be answered just before another
    caller's load sets the marker and be read just after that load ended; loading again would
    be a second load for one loss. `seen` is the count of finished loads taken before the
    check: if it moved, the marker is looked at once more (it is set unless Redis lost its data
    again) before loading.
    """
    marker = keyspace.key("xp_loaded", guild_id)
    if _FINISHED.get(keyspace.namespace, 0) != seen and await redis.exists(marker):
        return
    await _shared_load(redis, keyspace, guild_id)


async def ensure_guild_xp(redis: aioredis.Redis, keyspace: Keyspace, guild_id: int) -> None:
    """Load the guild's XP unless its marker says it is loaded (readers call this first)."""
    seen = _FINISHED.get(keyspace.namespace, 0)
    if not await redis.exists(keyspace.key("xp_loaded", guild_id)):
        await _load_unless_loaded_since(redis, keyspace, guild_id, seen)


async def run_loaded[T](
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, call: Callable[[], Awaitable[T]]
) -> T:
    """`await call()`; if its script refused with `XP_NOT_LOADED`, load the guild and retry once.

    Trying first costs nothing in the usual case (the guild is loaded); the script's own check
    is what makes the rule hold, whatever happens between a load and a write.
    """
    seen = _FINISHED.get(keyspace.namespace, 0)
    try:
        return await call()
    except ResponseError as error:
        if str(error) != NOT_LOADED:
            raise
    await _load_unless_loaded_since(redis, keyspace, guild_id, seen)
    return await call()
