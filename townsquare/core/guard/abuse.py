"""The guard's third check: per actor, a rate limit on destructive actions (flow 15).

More than `max_actions` kicks or bans in `window_seconds` by one actor blocks that action and
every further destructive one for `cooldown_seconds`. One Lua script per check: it is
idempotent per action key (a retried request counts once) and its cost is bounded by the
limit (the window never holds more than `max_actions` entries).
"""

from __future__ import annotations

import dataclasses
import typing

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.guard.policy import AbuseLimit
    from townsquare.core.keyspace import Keyspace

__all__ = ["AbuseVerdict", "check_abuse"]

# KEYS[1] guard_actions zset, KEYS[2] guard_cooldown string
# ARGV[1] action key, ARGV[2] window ms, ARGV[3] max actions, ARGV[4] cool-down ms
# -> {allowed 0/1, cool-down ms left, tripped now 0/1}
_CHECK = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return {1, 0, 0}
end
local left = redis.call('PTTL', KEYS[2])
if left > 0 then
  return {0, left, 0}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[4])
  return {0, tonumber(ARGV[4]), 1}
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, 0, 0}
"""


@dataclasses.dataclass(frozen=True, slots=True)
class AbuseVerdict:
    allowed: bool
    cooldown_ms: int
    tripped: bool
    """This action tripped the limit (alert once)."""


async def check_abuse(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    limit: AbuseLimit,
    *,
    guild_id: int,
    actor_id: int,
    action_key: str,
) -> AbuseVerdict:
    """Count `action_key` against the actor's limit, or refuse it."""
    script = redis.register_script(_CHECK)
    allowed, left, tripped = await script(
        keys=[
            keyspace.key("guard_actions", guild_id, actor_id),
            keyspace.key("guard_cooldown", guild_id, actor_id),
        ],
        args=[
            action_key,
            limit.window_seconds * 1000,
            limit.max_actions,
            limit.cooldown_seconds * 1000,
        ],
    )
    return AbuseVerdict(bool(allowed), int(left), bool(tripped))
