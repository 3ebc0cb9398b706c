"""Rate limits (per member per hour, per guild per minute) and the daily token budget.

Both limits are checked and charged in one Lua script, so a question refused by the guild's
limit costs the member nothing. Each limit is a GCRA (generic cell rate algorithm): one key
per subject holding the theoretical arrival time, so the script's cost is constant however
busy the guild is, a full allowance may be used at once (a burst of `limit`), and the exact
time when the next question is allowed falls out of the arithmetic (the refusal says it).

The budget is a counter per guild and UTC day: a question reserves its estimate before the
model call (refused when it would pass the tier's allowance) and is reconciled with the
model's reported usage afterwards (:func:`settle_tokens`).
"""

from __future__ import annotations

import dataclasses
import time
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Callable

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = [
    "HOUR_MS",
    "MINUTE_MS",
    "RateVerdict",
    "TokenReservation",
    "charge_question",
    "reserve_tokens",
    "settle_tokens",
    "utc_day",
]

HOUR_MS: typing.Final = 3_600_000
MINUTE_MS: typing.Final = 60_000
_DAY_SECONDS: typing.Final = 86_400

# KEYS: member key, guild key, optionally the guild's token counter of the day. ARGV: now
# (ms), member period (ms), member limit, guild period (ms), guild limit. Returns {allowed
# 0/1, retry after (ms), 1 member | 2 guild, tokens used today (-1: no counter asked)}.
_CHARGE = """
local now = tonumber(ARGV[1])
local used = -1
if KEYS[3] then used = tonumber(redis.call('GET', KEYS[3]) or '0') end
local function check(key, period, limit)
  local interval = period / limit
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - period
  if now < allow_at then return nil, math.ceil(allow_at - now) end
  return new_tat, 0
end
local member_tat, member_wait = check(KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
if not member_tat then return {0, member_wait, 1, used} end
local guild_tat, guild_wait = check(KEYS[2], tonumber(ARGV[4]), tonumber(ARGV[5]))
if not guild_tat then return {0, guild_wait, 2, used} end
redis.call('SET', KEYS[1], string.format('%d', member_tat), 'PX', math.ceil(member_tat - now))
redis.call('SET', KEYS[2], string.format('%d', guild_tat), 'PX', math.ceil(guild_tat - now))
return {1, 0, 0, used}
"""

# KEYS: the day's counter. ARGV: tokens to reserve, the allowance (-1: none), TTL (s).
# Returns {reserved 0/1, tokens used before}.
_RESERVE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local adding = tonumber(ARGV[1])
local allowance = tonumber(ARGV[2])
if allowance >= 0 and used + adding > allowance then return {0, used} end
redis.call('INCRBY', KEYS[1], adding)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, used}
"""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclasses.dataclass(frozen=True, slots=True)
class RateVerdict:
    allowed: bool
    retry_after_ms: int = 0
    scope: typing.Literal["member", "guild", ""] = ""
    """Which limit refused: the member's hourly or the guild's per-minute one."""
    tokens_used: int | None = None
    """The guild's tokens used today, when asked for (`tokens_day`): read in the same
    script, which saves the question a round trip."""

    def explain(self, member_limit: int, guild_limit: int) -> str:
        """The refusal's words: which limit, and when to ask again."""
        wait = _duration(self.retry_after_ms)
        if self.scope == "member":
            return (
                f"You have asked {member_limit} questions in the last hour, this server's "
                f"limit per member. Try again in {wait}."
            )
        return (
            f"This server's members have asked {guild_limit} questions in the last minute, "
            f"its limit. Try again in {wait}."
        )


def _duration(ms: int) -> str:
    seconds = max(1, -(-ms // 1000))
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minutes"


async def charge_question(  # noqa: PLR0917 - the two limits' four numbers
    redis: aioredis.Redis,
    keyspace: Keyspace,
    guild_id: int,
    member_id: int,
    per_member_per_hour: int,
    per_guild_per_minute: int,
    *,
    clock: Callable[[], int] = _now_ms,
    tokens_day: int | None = None,
) -> RateVerdict:
    """Charge one question to the member's and the guild's allowances, or say when it may be
    asked (nothing is charged then). With `tokens_day` (a :func:`utc_day`), the verdict also
    carries the guild's tokens used that day."""
    keys = [
        keyspace.key("ai_member_rate", guild_id, member_id),
        keyspace.key("ai_guild_rate", guild_id),
    ]
    if tokens_day is not None:
        keys.append(keyspace.key("ai_tokens", guild_id, tokens_day))
    allowed, wait, scope, used = await redis.register_script(_CHARGE)(
        keys=keys,
        args=[clock(), HOUR_MS, per_member_per_hour, MINUTE_MS, per_guild_per_minute],
    )
    tokens_used = None if tokens_day is None else int(used)
    if int(allowed):
        return RateVerdict(True, tokens_used=tokens_used)
    scope_name: typing.Literal["member", "guild"] = "member" if int(scope) == 1 else "guild"
    return RateVerdict(False, int(wait), scope_name, tokens_used)


def utc_day(unix_seconds: float | None = None) -> int:
    """Days since 1970-01-01 (UTC): the budget's period."""
    return int((time.time() if unix_seconds is None else unix_seconds) // _DAY_SECONDS)


@dataclasses.dataclass(frozen=True, slots=True)
class TokenReservation:
    reserved: bool
    used_before: int
    """Tokens the guild had used today before this question."""
    tokens: int
    """What was reserved (or would have been)."""
    key: str


async def reserve_tokens(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    guild_id: int,
    tokens: int,
    allowance: int | None,
    *,
    day: int | None = None,
) -> TokenReservation:
    """Reserve `tokens` of today's allowance (None: no limit); refused if it would pass it."""
    key = keyspace.key("ai_tokens", guild_id, utc_day() if day is None else day)
    script = redis.register_script(_RESERVE)
    limit = -1 if allowance is None else allowance
    reserved, used = await script(keys=[key], args=[tokens, limit, 2 * _DAY_SECONDS])
    return TokenReservation(bool(int(reserved)), int(used), tokens, key)


async def settle_tokens(
    redis: aioredis.Redis, reservation: TokenReservation, actual_tokens: int
) -> None:
    """Replace the reservation by what the model reported it used (0 when it failed)."""
    if reservation.reserved and actual_tokens != reservation.tokens:
        await redis.incrby(reservation.key, actual_tokens - reservation.tokens)
