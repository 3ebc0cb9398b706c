"""Hot activity counts in Redis, kept by the pipelines in the scripts that already do the work.

Per guild and hour (`hour` = Unix ms // 3,600,000, UTC): a hash of counts by metric
(`activity_counts`) and a HyperLogLog of the members active in it (`activity_members`), plus
one per day (`activity_members_day`); each write also bumps the bucket's change counter in
`activity_pending` (field `<guild>-<hour>`). The rollup (`core.activity.rollup`) copies each
pending bucket into PostgreSQL as absolute values and removes the field only if its counter
did not move meanwhile, as the XP flush does. The keys live :data:`COUNTS_TTL_SECONDS`, long
enough for a stopped scheduler to catch up.

Counting is idempotent where the caller's script is: :data:`ACTIVITY_LUA` is meant to be
pasted into a script that already refuses duplicates (the XP award script counts only messages
it marks as seen in the same call), so a redelivered batch counts nothing twice. The cost per
call is a few O(1) commands and one PFADD per HyperLogLog, whatever the batch size.
"""

from __future__ import annotations

import dataclasses
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = [
    "ACTIVITY_LUA",
    "COUNTS_TTL_SECONDS",
    "HOUR_MS",
    "ActivityKeys",
    "activity_keys",
    "pending_field",
    "record_activity",
    "split_pending_field",
]

HOUR_MS: typing.Final = 3_600_000
COUNTS_TTL_SECONDS: typing.Final = 3 * 86_400
"""How long a bucket's counts stay in Redis after its last write (rolled up long before)."""

# record_activity(k, field, ttl, counts, members): KEYS[k] = activity_counts,
# KEYS[k + 1] = activity_members (hour), KEYS[k + 2] = activity_members_day,
# KEYS[k + 3] = activity_pending; `field` = '<guild>-<hour>'; `counts` = {metric = n};
# `members` = a list of member ids. Writes nothing when there is nothing to count.
ACTIVITY_LUA: typing.Final = """
local function record_activity(k, field, ttl, counts, members)
  local touched = false
  for metric, n in pairs(counts) do
    if n ~= 0 then
      redis.call('HINCRBY', KEYS[k], metric, n)
      touched = true
    end
  end
  for start = 1, #members, 500 do
    local last = math.min(start + 499, #members)
    redis.call('PFADD', KEYS[k + 1], unpack(members, start, last))
    redis.call('PFADD', KEYS[k + 2], unpack(members, start, last))
    touched = true
  end
  if touched then
    for j = 0, 2 do redis.call('EXPIRE', KEYS[k + j], ttl) end
    redis.call('HINCRBY', KEYS[k + 3], field, 1)
  end
end
"""

_RECORD_SCRIPT: typing.Final = (
    ACTIVITY_LUA
    + """
-- KEYS: as record_activity's. ARGV: field, ttl, count of metric pairs m, m metric/n pairs,
-- then member ids.
local counts, members = {}, {}
local m = tonumber(ARGV[3])
for j = 0, m - 1 do counts[ARGV[4 + 2 * j]] = tonumber(ARGV[5 + 2 * j]) end
for j = 4 + 2 * m, #ARGV do members[#members + 1] = ARGV[j] end
record_activity(1, ARGV[1], tonumber(ARGV[2]), counts, members)
return 1
"""
)


@dataclasses.dataclass(frozen=True, slots=True)
class ActivityKeys:
    """The keys and pending field of one guild's hour, in :data:`ACTIVITY_LUA`'s order."""

    keys: tuple[str, str, str, str]
    field: str


def pending_field(guild_id: int, hour: int) -> str:
    """The `activity_pending` field of a guild's hour (a hash field, not a key)."""
    return "-".join((str(guild_id), str(hour)))


def split_pending_field(field: str | bytes) -> tuple[int, int]:
    """`(guild_id, hour)` of an `activity_pending` field."""
    text = field.decode() if isinstance(field, bytes) else field
    guild, _, hour = text.partition("-")
    return int(guild), int(hour)


def activity_keys(keyspace: Keyspace, guild_id: int, at_ms: int) -> ActivityKeys:
    """The keys counting what happened in `guild_id` at `at_ms` (Unix ms): its hour's."""
    hour = at_ms // HOUR_MS
    return ActivityKeys(
        (
            keyspace.key("activity_counts", guild_id, hour),
            keyspace.key("activity_members", guild_id, hour),
            keyspace.key("activity_members_day", guild_id, hour // 24),
            keyspace.key("activity_pending"),
        ),
        pending_field(guild_id, hour),
    )


async def record_activity(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    guild_id: int,
    at_ms: int,
    *,
    counts: Mapping[str, int],
    members: Iterable[int] = (),
) -> None:
    """Count `counts` (metric name -> n) and `members` as active in the guild's hour of `at_ms`.

    One atomic call, but not idempotent by itself: call it where the caller's own check has
    already refused a duplicate (or where a duplicate count is harmless).
    """
    target = activity_keys(keyspace, guild_id, at_ms)
    pairs = [item for metric, n in counts.items() for item in (metric, n)]
    args: list[int | str] = [target.field, COUNTS_TTL_SECONDS, len(counts), *pairs, *members]
    await redis.register_script(_RECORD_SCRIPT)(keys=list(target.keys), args=args)
