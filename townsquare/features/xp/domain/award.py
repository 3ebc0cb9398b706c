"""Awarding message XP for a batch of records: one Lua call per guild, atomic and idempotent.

The rule: taking a member's messages in time order (timestamp, then message id), a message
earns if no earlier *earning* message lies less than the cooldown before it. Messages that
earn nothing anyway (no-XP channel or role) do not start a cooldown.

The result does not depend on the order in which records arrive. Per guild and member, Redis
keeps two sorted sets scored by message time (ms), members `<message id>/<amount>`:

- `xp_seen`: every message counted, so a redelivered or duplicated record changes nothing
  (the set is the "done" marker, written in the same script as the effect);
- `xp_awarded`: the messages that earned. A late record re-decides the messages after it,
  from the last award before it, and the total moves by the difference; so the awarded set
  is always what processing every message in time order would give, and two awards are
  never closer than the cooldown.

Records older than the lateness window (:data:`LATENESS_WINDOW_MS`, against the Redis
server's clock, never the worker's) are neither counted nor awarded: their duplicates may
have been pruned. Older entries are pruned, except the newest award, which anchors the
cooldown of the messages after it.
"""

from __future__ import annotations

import dataclasses
import typing

from townsquare.features.xp.domain.hydrate import require_loaded, run_loaded
from townsquare.features.xp.domain.rules import message_amount

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    import redis.asyncio as aioredis

    from townsquare.core.config.schemas import XPSection
    from townsquare.core.events import MessageRecord
    from townsquare.core.keyspace import Keyspace

__all__ = ["LATENESS_WINDOW_MS", "RETENTION_MARGIN_MS", "AwardOutcome", "award_messages"]

LATENESS_WINDOW_MS: typing.Final = 3_600_000
"""Records more than an hour older than the Redis server's clock earn and count nothing."""
RETENTION_MARGIN_MS: typing.Final = 300_000
"""Extra life of the per-member sets beyond window + cooldown, for clock skew."""

# KEYS: xp, xp_messages, xp_dirty, xp_dirty_guilds, xp_levels, then per member i (1-based):
#   KEYS[4 + 2i] = xp_seen, KEYS[5 + 2i] = xp_awarded; members of both are "<id>/<amount>";
#   last, KEYS[#KEYS] = xp_loaded (without it the script refuses: see hydrate.py).
# ARGV: guild, cooldown ms, window ms, retention ms, member count n, n member ids,
#   then per record: member index, message id, timestamp ms, amount.
# Returns per member: total XP, net XP change now, messages counted now, level applied.
AWARD_SCRIPT: typing.Final = (
    require_loaded("KEYS[#KEYS]")
    + """
local function fmt(x) return string.format('%d', x) end
local function before(ts_a, id_a, ts_b, id_b)
  if ts_a ~= ts_b then return ts_a < ts_b end
  if #id_a ~= #id_b then return #id_a < #id_b end
  return id_a < id_b
end
local function split(member)
  local slash = string.find(member, '/', 1, true)
  return string.sub(member, 1, slash - 1), tonumber(string.sub(member, slash + 1))
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cooldown = tonumber(ARGV[2])
local oldest = now - tonumber(ARGV[3])
local retention = tonumber(ARGV[4])
local n = tonumber(ARGV[5])
local gained, counted = {}, {}
local top_seen, last_award = {}, {}
for i = 1, n do
  gained[i] = 0
  counted[i] = 0
  local seen, awarded = KEYS[4 + 2 * i], KEYS[5 + 2 * i]
  redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. fmt(oldest))
  -- Keep the newest award below the line: it anchors the cooldown of later messages.
  if redis.call('ZCOUNT', awarded, '-inf', '(' .. fmt(oldest)) > 1 then
    local anchor = redis.call('ZREVRANGEBYSCORE', awarded, '(' .. fmt(oldest), '-inf',
      'WITHSCORES', 'LIMIT', 0, 1)
    redis.call('ZREMRANGEBYSCORE', awarded, '-inf', '(' .. fmt(oldest))
    redis.call('ZADD', awarded, anchor[2], anchor[1])
  end
  local top = redis.call('ZREVRANGE', seen, 0, 0, 'WITHSCORES')
  if #top > 0 then top_seen[i] = tonumber(top[2]) end
  top = redis.call('ZREVRANGE', awarded, 0, 0, 'WITHSCORES')
  if #top > 0 then last_award[i] = tonumber(top[2]) end
end
for r = 6 + n, #ARGV, 4 do
  local i = tonumber(ARGV[r])
  local id = ARGV[r + 1]
  local ts = tonumber(ARGV[r + 2])
  local amount = tonumber(ARGV[r + 3])
  local seen, awarded = KEYS[4 + 2 * i], KEYS[5 + 2 * i]
  if ts < oldest then
    -- past the lateness window: neither counted nor awarded
  elseif top_seen[i] == nil or ts > top_seen[i] then
    -- Later than every message seen so far (the usual case): only the last award matters.
    redis.call('ZADD', seen, ts, id .. '/' .. amount)
    counted[i] = counted[i] + 1
    top_seen[i] = ts
    if amount > 0 and (last_award[i] == nil or ts - last_award[i] >= cooldown) then
      redis.call('ZADD', awarded, ts, id .. '/' .. amount)
      gained[i] = gained[i] + amount
      last_award[i] = ts
    end
  else
    local fresh = true
    for _, member in ipairs(redis.call('ZRANGEBYSCORE', seen, ts, ts)) do
      if split(member) == id then fresh = false end
    end
    if fresh then
      redis.call('ZADD', seen, ts, id .. '/' .. amount)
      counted[i] = counted[i] + 1
      if top_seen[i] == nil or ts > top_seen[i] then top_seen[i] = ts end
      if amount > 0 then
        -- A late message: the last award before it decides the cooldown from here on, and
        -- everything after it is awarded again, in time order, as if it had come in order.
        local last = nil
        for _, member in ipairs(redis.call('ZRANGEBYSCORE', awarded, ts, ts)) do
          if before(ts, split(member), ts, id) then last = ts end
        end
        if last == nil then
          local prev = redis.call('ZREVRANGEBYSCORE', awarded, '(' .. fmt(ts), '-inf',
            'WITHSCORES', 'LIMIT', 0, 1)
          if #prev > 0 then last = tonumber(prev[2]) end
        end
        local old = 0
        local raw = redis.call('ZRANGEBYSCORE', awarded, ts, '+inf', 'WITHSCORES')
        for j = 1, #raw, 2 do
          local mid, mamount = split(raw[j])
          if not before(tonumber(raw[j + 1]), mid, ts, id) then
            old = old + mamount
            redis.call('ZREM', awarded, raw[j])
          end
        end
        local region = {}
        raw = redis.call('ZRANGEBYSCORE', seen, ts, '+inf', 'WITHSCORES')
        for j = 1, #raw, 2 do
          local mid, mamount = split(raw[j])
          local mts = tonumber(raw[j + 1])
          if mamount > 0 and not before(mts, mid, ts, id) then
            region[#region + 1] = {mts, mid, mamount, raw[j]}
          end
        end
        table.sort(region, function(a, b) return before(a[1], a[2], b[1], b[2]) end)
        local new = 0
        for _, e in ipairs(region) do
          if last == nil or e[1] - last >= cooldown then
            redis.call('ZADD', awarded, e[1], e[4])
            new = new + e[3]
            last = e[1]
          end
        end
        gained[i] = gained[i] + new - old
        -- The walk ends at the member's newest award (which a late message may have moved).
        last_award[i] = last
      end
    end
  end
end
local out = {}
local dirty = false
for i = 1, n do
  local member = ARGV[5 + i]
  if counted[i] > 0 then
    redis.call('HINCRBY', KEYS[2], member, counted[i])
    redis.call('HINCRBY', KEYS[1], member, gained[i])
    redis.call('PEXPIRE', KEYS[4 + 2 * i], retention)
    redis.call('PEXPIRE', KEYS[5 + 2 * i], retention)
    redis.call('HINCRBY', KEYS[3], member, 1)
    dirty = true
  end
  out[#out + 1] = redis.call('HGET', KEYS[1], member) or '0'
  out[#out + 1] = tostring(gained[i])
  out[#out + 1] = tostring(counted[i])
  out[#out + 1] = redis.call('HGET', KEYS[5], member) or '0'
end
if dirty then redis.call('SADD', KEYS[4], ARGV[1]) end
return out
"""
)


@dataclasses.dataclass(frozen=True, slots=True)
class AwardOutcome:
    """What one guild's batch did, per member of the batch (awarded or not)."""

    totals: dict[int, int]
    """Total XP after the batch."""
    gained: dict[int, int]
    """XP awarded by this call (0 for duplicates and cooled-down messages)."""
    counted: dict[int, int]
    """Messages counted by this call (0 for duplicates and records past the window)."""
    applied_levels: dict[int, int]
    """The level last applied to each member, as `sync_levels` needs it."""
    last_channel: dict[int, int]
    """The channel of each member's newest message in the batch (for level-up notices)."""


async def award_messages(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    guild_id: int,
    section: XPSection,
    records: Sequence[MessageRecord],
    *,
    lateness_window_ms: int = LATENESS_WINDOW_MS,
) -> AwardOutcome:
    """Count and award `records` (all of `guild_id`) in one atomic script call."""
    if any(record.guild_id != guild_id for record in records):
        raise ValueError(f"award_messages got records of guilds other than {guild_id}")
    ordered = sorted(records, key=lambda record: (record.timestamp_ms, record.message_id))
    members: dict[int, int] = {}
    last_channel: dict[int, int] = {}
    for record in ordered:
        members.setdefault(record.author_id, len(members) + 1)
        last_channel[record.author_id] = record.channel_id
    if not members:
        return AwardOutcome({}, {}, {}, {}, {})
    cooldown_ms = section.cooldown_seconds * 1000
    keys = [
        keyspace.key("xp", guild_id),
        keyspace.key("xp_messages", guild_id),
        keyspace.key("xp_dirty", guild_id),
        keyspace.key("xp_dirty_guilds"),
        keyspace.key("xp_levels", guild_id),
    ]
    for member in members:
        keys.append(keyspace.key("xp_seen", guild_id, member))
        keys.append(keyspace.key("xp_awarded", guild_id, member))
    keys.append(keyspace.key("xp_loaded", guild_id))
    args: list[int | str] = [
        guild_id,
        cooldown_ms,
        lateness_window_ms,
        lateness_window_ms + cooldown_ms + RETENTION_MARGIN_MS,
        len(members),
        *members,
    ]
    for record in ordered:
        args += [
            members[record.author_id],
            record.message_id,
            record.timestamp_ms,
            message_amount(section, record),
        ]
    script = redis.register_script(AWARD_SCRIPT)
    raw = await run_loaded(redis, keyspace, guild_id, lambda: script(keys=keys, args=args))
    totals: dict[int, int] = {}
    gained: dict[int, int] = {}
    counted: dict[int, int] = {}
    applied: dict[int, int] = {}
    for position, member in enumerate(members):
        total, got, seen, level = raw[4 * position : 4 * position + 4]
        totals[member], gained[member], counted[member] = int(total), int(got), int(seen)
        applied[member] = int(level)
    return AwardOutcome(totals, gained, counted, applied, last_channel)
