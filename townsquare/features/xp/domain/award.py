"""Awarding message XP for a batch of records: one Lua call per guild, atomic and idempotent.

The rule: taking a member's messages in time order (timestamp, then message id), a message
earns if no earlier *earning* message lies less than the cooldown before it. Messages that
earn nothing anyway (no-XP channel or role) do not start a cooldown.

The result does not depend on the order in which records arrive. Per guild and member, Redis
keeps three sorted sets scored by message time (ms):

- `xp_seen` (members: message ids): every message counted, so a redelivered or duplicated
  record changes nothing (the set is the "done" marker, written in the same script as the
  effect; a duplicate costs one `ZADD NX`);
- `xp_earnable` (`<id>/<amount>`): the counted messages worth something, the candidates;
- `xp_awarded` (`<id>/<amount>`): the messages that earned. New messages re-decide the
  awards from the last award before them, one award at a time (each step a `LIMIT 1`
  lookup), until the new chain meets an old award after them; the total moves by the
  difference. So the awarded set is what processing every message in time order would
  give, and two awards are never closer than the cooldown.

Ids are zero-padded to 20 digits in the members, so a set's own order is time order and no
script ever sorts. The work of one call is bounded by its batch, never by a member's history:
each record costs a few O(log n) commands, pruning removes at most a bounded number of
entries per call, and re-deciding takes at most :data:`WALK_BUDGET` steps per call. A
member whose re-decision does not fit what is left of a call's budget is deferred to a
following call (the result stays exactly the in-order one); only a member whose
re-decision would pass even a whole budget (small cooldowns, very late messages) has those
late messages earn only where they fit between the awards already made (no award within
the cooldown on either side), displacing none.

Records older than the lateness window (:data:`LATENESS_WINDOW_MS`, against the Redis
server's clock, never the worker's) are neither counted nor awarded: their duplicates may
have been pruned. So are records older than every message kept for a member whose
`xp_seen` holds :data:`SEEN_LIMIT` messages. Older entries are pruned, except the newest
award, which anchors the cooldown of the messages after it.
"""

from __future__ import annotations

import dataclasses
import typing

from townsquare.core.activity.counters import ACTIVITY_LUA, COUNTS_TTL_SECONDS, activity_keys
from townsquare.core.keyspace import guild_bucket
from townsquare.features.xp.domain.hydrate import require_loaded, run_loaded
from townsquare.features.xp.domain.rules import message_amount

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    import redis.asyncio as aioredis
    from redis.commands.core import AsyncScript

    from townsquare.core.events import MessageRecord
    from townsquare.core.keyspace import Keyspace
    from townsquare.features.xp.domain.config import XPSection

__all__ = [
    "LATENESS_WINDOW_MS",
    "RETENTION_MARGIN_MS",
    "SEEN_LIMIT",
    "WALK_BUDGET",
    "AwardOutcome",
    "award_messages",
]

LATENESS_WINDOW_MS: typing.Final = 3_600_000
"""Records more than an hour older than the Redis server's clock earn and count nothing."""
RETENTION_MARGIN_MS: typing.Final = 300_000
"""Extra life of the per-member sets beyond window + cooldown, for clock skew."""
WALK_BUDGET: typing.Final = 256
"""Re-decision steps one award call may take, over all its members (a step is two O(log n)
lookups). A walk's steps are bounded before it starts by the old awards after the batch's
earliest message, plus the batch's possible new awards, plus 2: at most 124 with the default
60 s cooldown (an hour holds 61 awards). A member whose walk does not fit what is left is
deferred to the next call; only walks past a whole budget take the "fits" rule."""
SEEN_LIMIT: typing.Final = 100_000
"""Messages kept per member within the window; beyond it the oldest go, and records older
than every message kept are refused (their duplicates may be among those that went)."""
_ID_DIGITS: typing.Final = 20
"""Snowflakes are below 2**64 (20 digits): padded ids sort as numbers do."""

# KEYS: xp, xp_messages, xp_dirty, xp_dirty_guilds, xp_levels, then per member i (1-based):
#   KEYS[3 + 3i] = xp_seen (members: padded id), KEYS[4 + 3i] = xp_earnable and
#   KEYS[5 + 3i] = xp_awarded (members: "<padded id>/<amount>"); then the three activity
#   keys of the batch's hour (core/activity/counters.py) at KEYS[#KEYS - 3 .. #KEYS - 1]; last,
#   KEYS[#KEYS] = xp_loaded (without it the script refuses: see hydrate.py).
# ARGV: guild, cooldown ms, window ms, retention ms, member count n, n member ids, walk
#   budget, size limit, activity pending field, activity TTL, then per record (in time
#   order): member index, message id padded to 20 digits, timestamp ms, amount.
# Returns per member: total XP, net XP change now, messages counted now, level applied, and
#   1 when the member was deferred (nothing of theirs done: the caller calls again for them).
# Cost: O(log n) per record plus at most `walk budget` re-decision steps and a bounded
# trim per member (docs/xp.md, "Bounded work"); nothing reads or sorts a whole set.
AWARD_SCRIPT: typing.Final = (
    require_loaded("KEYS[#KEYS]")
    + ACTIVITY_LUA
    + """
local function fmt(x) return string.format('%d', x) end
-- Members of xp_earnable and xp_awarded are '<id, zero-padded to 20 digits>/<amount>', so the
-- sorted sets' own order (score, then member) is time order (timestamp, then message id).
local function split(member)
  local slash = string.find(member, '/', 1, true)
  return string.sub(member, 1, slash - 1), tonumber(string.sub(member, slash + 1))
end
local function before(ts_a, id_a, ts_b, id_b)
  if ts_a ~= ts_b then return ts_a < ts_b end
  return id_a < id_b
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cooldown = tonumber(ARGV[2])
local oldest = now - tonumber(ARGV[3])
local retention = tonumber(ARGV[4])
local n = tonumber(ARGV[5])
local budget = tonumber(ARGV[6 + n])
local limit = tonumber(ARGV[7 + n])
local first_record = 10 + n

-- Drop at most `most` entries of `key`: those older than the window (all but `keep` of them)
-- or beyond the size limit, oldest first. Bounded by `most`, whatever the set holds.
local function trim(key, keep, most)
  local drop = redis.call('ZCOUNT', key, '-inf', '(' .. fmt(oldest)) - keep
  local over = redis.call('ZCARD', key) - limit
  if over > drop then drop = over end
  if drop > most then drop = most end
  if drop > 0 then redis.call('ZREMRANGEBYRANK', key, 0, drop - 1) end
end
-- The member's award just before (ts, id): {ts, id, member} or nil.
local function award_before(awarded, ts, id)
  local r = redis.call('ZREVRANGEBYSCORE', awarded, fmt(ts), '-inf', 'WITHSCORES', 'LIMIT', 0, 2)
  for j = 1, #r, 2 do
    local a_id = split(r[j])
    local a_ts = tonumber(r[j + 1])
    if before(a_ts, a_id, ts, id) then return {a_ts, a_id, r[j]} end
  end
  return nil
end
-- Re-decide the member's awards from the last award before `first` (the earliest new
-- message), in time order, as if every message had come in order: each next award is the
-- first earnable message at least the cooldown after the previous one, and an old award in
-- between is displaced. Reads only; stops where the new chain meets an old award at or
-- after `last` (nothing after it changed). Two lookups a step. Returns the awards to add and
-- to remove and the steps taken, or nil past `most` steps.
local function walk(earnable, awarded, first, last, most)
  local cur = award_before(awarded, first[1], first[2])
  local adds, removes, steps = {}, {}, 0
  while true do
    steps = steps + 1
    if steps > most then return nil end
    local nxt, was
    if cur == nil then
      nxt = redis.call('ZRANGE', earnable, 0, 0, 'WITHSCORES')
      was = #nxt > 0 and redis.call('ZSCORE', awarded, nxt[1])
    else
      nxt = redis.call('ZRANGEBYSCORE', earnable, fmt(cur[1] + cooldown), '+inf', 'WITHSCORES',
        'LIMIT', 0, 1)
      -- Old awards are at least the cooldown apart, and the next award is the first earnable
      -- message past the cooldown: at most one old award lies between cur and it, then comes
      -- the next award itself or one after it (and perhaps cur, and one at cur's time
      -- before it).
      local olds = redis.call('ZRANGEBYSCORE', awarded, fmt(cur[1]), '+inf', 'WITHSCORES',
        'LIMIT', 0, 4)
      was = false
      for j = 1, #olds, 2 do
        local a_id = split(olds[j])
        local a_ts = tonumber(olds[j + 1])
        if before(cur[1], cur[2], a_ts, a_id) then
          if #nxt > 0 and olds[j] == nxt[1] then
            was = true
          elseif #nxt == 0 or before(a_ts, a_id, tonumber(nxt[2]), (split(nxt[1]))) then
            removes[#removes + 1] = olds[j]
          end
        end
      end
    end
    if #nxt == 0 then break end
    local n_ts, n_id = tonumber(nxt[2]), split(nxt[1])
    if was and not before(n_ts, n_id, last[1], last[2]) then break end
    if not was then adds[#adds + 1] = {n_ts, nxt[1]} end
    cur = {n_ts, n_id}
  end
  return adds, removes, steps
end
local function apply(awarded, adds, removes)
  local change = 0
  for _, member in ipairs(removes) do
    local _, amount = split(member)
    redis.call('ZREM', awarded, member)
    change = change - amount
  end
  for _, a in ipairs(adds) do
    local _, amount = split(a[2])
    redis.call('ZADD', awarded, fmt(a[1]), a[2])
    change = change + amount
  end
  return change
end

local gained, counted, fresh, floor, records = {}, {}, {}, {}, {}
for i = 1, n do
  gained[i], counted[i], fresh[i], records[i] = 0, 0, {}, 0
end
-- Per member, the earliest and latest record worth something: a walk's steps are bounded by
-- them before anything is counted (see `plan` below).
local worth_first, worth_last, worth_count = {}, {}, {}
for r = first_record, #ARGV, 4 do
  local i = tonumber(ARGV[r])
  records[i] = records[i] + 1
  if tonumber(ARGV[r + 3]) > 0 then
    local e = {tonumber(ARGV[r + 2]), ARGV[r + 1]}
    if worth_first[i] == nil then worth_first[i] = e end
    worth_last[i] = e
    worth_count[i] = (worth_count[i] or 0) + 1
  end
end
for i = 1, n do
  local seen, earnable, awarded = KEYS[3 + 3 * i], KEYS[4 + 3 * i], KEYS[5 + 3 * i]
  -- Pruning keeps pace with what a call adds (at most one entry per record) and no more.
  local most = 16 + 2 * records[i]
  trim(seen, 0, most)
  trim(earnable, 0, most)
  -- The newest award below the window stays: it anchors the cooldown of later messages.
  trim(awarded, 1, most)
  if redis.call('ZCARD', seen) >= limit then
    local low = redis.call('ZRANGE', seen, 0, 0, 'WITHSCORES')
    floor[i] = {tonumber(low[2]), low[1]}
  end
end
-- The plan per member: 'walk' (in order, exact), 'defer' (its re-decision would pass what
-- is left of this call's budget but fits a whole one: untouched now, the caller repeats the
-- call for it) or 'fits' (it would pass even a whole budget). Each re-deciding member is
-- charged its bound, so a call walks at most `budget` steps; the first re-deciding member
-- always has the whole budget, so every call makes progress.
local full = budget
local plan = {}
for i = 1, n do
  plan[i] = 'walk'
  if cooldown > 0 and worth_first[i] ~= nil then
    local awarded = KEYS[5 + 3 * i]
    local newest = redis.call('ZREVRANGE', awarded, 0, 0, 'WITHSCORES')
    local first, last = worth_first[i], worth_last[i]
    if #newest > 0 and before(first[1], first[2], tonumber(newest[2]), (split(newest[1]))) then
      local span = math.floor((last[1] - first[1]) / cooldown) + 1
      if span > worth_count[i] then span = worth_count[i] end
      local need = span + 2 + redis.call('ZCOUNT', awarded, fmt(first[1]), '+inf')
      if need <= budget then
        budget = budget - need
      elseif need <= full then
        plan[i] = 'defer'
      else
        plan[i] = 'fits'
      end
    end
  end
end
for r = first_record, #ARGV, 4 do
  local i = tonumber(ARGV[r])
  local id = ARGV[r + 1]
  local ts = tonumber(ARGV[r + 2])
  local amount = tonumber(ARGV[r + 3])
  -- Past the lateness window, or (a member at the size limit) older than every message
  -- kept: neither counted nor awarded, since its duplicate may have been pruned.
  if plan[i] ~= 'defer' and ts >= oldest
      and (floor[i] == nil or before(floor[i][1], floor[i][2], ts, id)) then
    if redis.call('ZADD', KEYS[3 + 3 * i], 'NX', ARGV[r + 2], id) == 1 then
      counted[i] = counted[i] + 1
      if amount > 0 then
        local member = id .. '/' .. amount
        redis.call('ZADD', KEYS[4 + 3 * i], ARGV[r + 2], member)
        fresh[i][#fresh[i] + 1] = {ts, id, amount, member}
      end
    end
  end
end
for i = 1, n do
  local list = fresh[i]
  local earnable, awarded = KEYS[4 + 3 * i], KEYS[5 + 3 * i]
  if #list == 0 then
    -- nothing new that could earn
  elseif cooldown == 0 then
    for _, e in ipairs(list) do
      redis.call('ZADD', awarded, fmt(e[1]), e[4])
      gained[i] = gained[i] + e[3]
    end
  else
    local newest = redis.call('ZREVRANGE', awarded, 0, 0, 'WITHSCORES')
    local top = nil
    if #newest > 0 then top = {tonumber(newest[2]), (split(newest[1]))} end
    local first, last = list[1], list[#list]
    -- Steps a walk can take: one per old award after `first` (kept or displaced; every
    -- message that newly earns displaces a distinct old award or is new) plus the new
    -- awards among the batch's messages (at most one per cooldown of their span) plus 2.
    -- Messages all after the newest award (the usual case) cost no budget.
    local span = math.floor((last[1] - first[1]) / cooldown) + 1
    if span > #list then span = #list end
    local need = span + 2
    local late = top ~= nil and before(first[1], first[2], top[1], top[2])
    if late then need = need + redis.call('ZCOUNT', awarded, fmt(first[1]), '+inf') end
    if plan[i] == 'walk' then
      local adds, removes = walk(earnable, awarded, first, last, need)
      if adds == nil then return redis.error_reply('XP_WALK_OVERRUN') end
      gained[i] = gained[i] + apply(awarded, adds, removes)
    else
      -- Past even a whole call's budget: messages before the member's newest award earn
      -- only where they fit (no award within the cooldown on either side) and displace nothing; the
      -- messages after it are decided in order as usual.
      local rest = {}
      for _, e in ipairs(list) do
        if before(e[1], e[2], top[1], top[2]) then
          local prev = award_before(awarded, e[1], e[2])
          local fits = prev == nil or e[1] - prev[1] >= cooldown
          if fits then
            local after = redis.call('ZRANGEBYSCORE', awarded, fmt(e[1]), '+inf', 'WITHSCORES',
              'LIMIT', 0, 2)
            for j = 1, #after, 2 do
              local a_ts = tonumber(after[j + 1])
              if before(e[1], e[2], a_ts, (split(after[j]))) and a_ts - e[1] < cooldown then
                fits = false
              end
            end
          end
          if fits then
            redis.call('ZADD', awarded, fmt(e[1]), e[4])
            gained[i] = gained[i] + e[3]
          end
        else
          rest[#rest + 1] = e
        end
      end
      if #rest > 0 then
        -- In order after the newest award: one step per award made, at most the batch.
        local adds, removes = walk(earnable, awarded, rest[1], rest[#rest], #rest + 2)
        if adds == nil then return redis.error_reply('XP_WALK_OVERRUN') end
        gained[i] = gained[i] + apply(awarded, adds, removes)
      end
    end
  end
end
local out = {}
local dirty = false
-- The overview's activity: messages counted now, their XP, the members who posted.
local activity = {messages = 0, xp = 0}
local active = {}
for i = 1, n do
  local member = ARGV[5 + i]
  if counted[i] > 0 then
    activity.messages = activity.messages + counted[i]
    activity.xp = activity.xp + gained[i]
    active[#active + 1] = member
    redis.call('HINCRBY', KEYS[2], member, counted[i])
    redis.call('HINCRBY', KEYS[1], member, gained[i])
    for k = 3, 5 do redis.call('PEXPIRE', KEYS[k + 3 * i], retention) end
    redis.call('HINCRBY', KEYS[3], member, 1)
    dirty = true
  end
  out[#out + 1] = redis.call('HGET', KEYS[1], member) or '0'
  out[#out + 1] = tostring(gained[i])
  out[#out + 1] = tostring(counted[i])
  out[#out + 1] = redis.call('HGET', KEYS[5], member) or '0'
  out[#out + 1] = plan[i] == 'defer' and '1' or '0'
end
if dirty then
  redis.call('SADD', KEYS[4], ARGV[1])
  record_activity(#KEYS - 3, ARGV[8 + n], tonumber(ARGV[9 + n]), activity, active)
end
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
    walk_budget: int = WALK_BUDGET,
) -> AwardOutcome:
    """Count and award `records` (all of `guild_id`): one atomic script call, repeated for the
    members it deferred (their re-decision did not fit what was left of its walk budget).

    Each call is atomic and idempotent on its own, so a worker killed between two calls
    leaves a state that redelivery completes. `walk_budget` is for tests (0 makes every late
    message take the "fits" rule).
    """
    if any(record.guild_id != guild_id for record in records):
        raise ValueError(f"award_messages got records of guilds other than {guild_id}")
    ordered = sorted(records, key=lambda record: (record.timestamp_ms, record.message_id))
    last_channel = {record.author_id: record.channel_id for record in ordered}
    outcome = AwardOutcome({}, {}, {}, {}, last_channel)
    script = redis.register_script(AWARD_SCRIPT)
    while ordered:
        deferred = await _award_call(
            redis,
            keyspace,
            guild_id,
            ordered,
            script=script,
            section=section,
            lateness_window_ms=lateness_window_ms,
            walk_budget=walk_budget,
            outcome=outcome,
        )
        if len(deferred) == len({record.author_id for record in ordered}):
            raise RuntimeError("the award script deferred every member: it must do one a call")
        ordered = [record for record in ordered if record.author_id in deferred]
    return outcome


async def _award_call(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    guild_id: int,
    ordered: Sequence[MessageRecord],
    *,
    script: AsyncScript,
    section: XPSection,
    lateness_window_ms: int,
    walk_budget: int,
    outcome: AwardOutcome,
) -> set[int]:
    """One script call over `ordered` (time order): fills `outcome` for the members it did,
    returns the members it deferred."""
    members: dict[int, int] = {}
    for record in ordered:
        members.setdefault(record.author_id, len(members) + 1)
    cooldown_ms = section.cooldown_seconds * 1000
    keys = [
        keyspace.key("xp", guild_id),
        keyspace.key("xp_messages", guild_id),
        keyspace.key("xp_dirty", guild_id),
        keyspace.key("xp_dirty_guilds", guild_bucket(guild_id)),
        keyspace.key("xp_levels", guild_id),
    ]
    for member in members:
        keys.append(keyspace.key("xp_seen", guild_id, member))
        keys.append(keyspace.key("xp_earnable", guild_id, member))
        keys.append(keyspace.key("xp_awarded", guild_id, member))
    activity = activity_keys(keyspace, guild_id, ordered[-1].timestamp_ms)
    keys.extend(activity.keys)
    keys.append(keyspace.key("xp_loaded", guild_id))
    args: list[int | str] = [
        guild_id,
        cooldown_ms,
        lateness_window_ms,
        lateness_window_ms + cooldown_ms + RETENTION_MARGIN_MS,
        len(members),
        *members,
        walk_budget,
        SEEN_LIMIT,
        activity.field,
        COUNTS_TTL_SECONDS,
    ]
    for record in ordered:
        args += [
            members[record.author_id],
            f"{record.message_id:0{_ID_DIGITS}d}",
            record.timestamp_ms,
            message_amount(section, record),
        ]
    raw = await run_loaded(redis, keyspace, guild_id, lambda: script(keys=keys, args=args))
    deferred: set[int] = set()
    for position, member in enumerate(members):
        total, got, seen, level, later = raw[5 * position : 5 * position + 5]
        if int(later):
            deferred.add(member)
            continue
        outcome.totals[member], outcome.gained[member] = int(total), int(got)
        outcome.counted[member], outcome.applied_levels[member] = int(seen), int(level)
    return deferred
