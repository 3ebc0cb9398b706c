"""Automod's windowed rules in Redis: message spam, duplicate text and mentions over time.

One Lua script per guild and batch (like the XP pipeline): each message is recorded in its
author's recent history (a sorted set by message time, at most :data:`HISTORY_CAP` entries,
kept for the longest window), then counted against the three windows. Windows are measured in
message time (Discord's snowflake), never the worker's clock, so a late batch is judged as if
on time.

Idempotent per message id: a message's verdict is stored with it, and a message seen again
(a redelivered or duplicated batch) gets the stored verdict back without being counted twice.
A rule that fires records when; further messages inside that rule's window are violations
(deleted) but not new offenses, so one burst is one offense.
"""

from __future__ import annotations

import dataclasses
import hashlib
import typing

from townsquare.features.moderation.domain.normalise import normalise

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = ["HISTORY_CAP", "WINDOW_RULES", "WindowLimits", "WindowVerdict", "judge_windows"]

HISTORY_CAP: typing.Final = 120
"""Messages kept per member: above every threshold (at most 100), so counts stay exact, and
the cost of one message is bounded whatever the member's history."""
WINDOW_RULES: typing.Final = ("spam", "duplicates", "mention_window")

# KEYS: per message i (1-based), KEYS[2i-1] = automod_recent (zset of message ids by time),
#   KEYS[2i] = automod_state (hash: m:<id> -> "<mentions>:<digest>", v:<id> -> verdict,
#   f:<rule> -> time the rule last fired).
# ARGV[1..6] = spam count, spam window ms, duplicate count, duplicate window ms, mentions,
#   mention window ms; ARGV[7] = retention ms; ARGV[8] = history cap; then 5 per message:
#   id, time ms, mentions, digest ("" for no text), mask (3 chars of 0/1: rules that apply).
# Returns one verdict per message: 3 characters, per rule 0 (kept), 1 (violation), 2 (offense).
_JUDGE = """
local spam_n, spam_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
local dup_n, dup_ms = tonumber(ARGV[3]), tonumber(ARGV[4])
local men_n, men_ms = tonumber(ARGV[5]), tonumber(ARGV[6])
local retention, cap = tonumber(ARGV[7]), tonumber(ARGV[8])
local limits = {{spam_n, spam_ms}, {dup_n, dup_ms}, {men_n, men_ms}}
local names = {'spam', 'duplicates', 'mention_window'}
local out = {}
local function forget(z, h, ids)
  for _, old in ipairs(ids) do
    redis.call('ZREM', z, old)
    redis.call('HDEL', h, 'm:' .. old, 'v:' .. old)
  end
end
for i = 0, (#ARGV - 8) / 5 - 1 do
  local a = 9 + 5 * i
  local id, ts, mentions = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]
  local digest, mask = ARGV[a + 3], ARGV[a + 4]
  local z, h = KEYS[2 * i + 1], KEYS[2 * i + 2]
  local stored = redis.call('HGET', h, 'v:' .. id)
  if stored then
    out[#out + 1] = stored
  else
    redis.call('ZADD', z, ts, id)
    redis.call('HSET', h, 'm:' .. id, mentions .. ':' .. digest)
    local counts = {0, 0, 0}
    local longest = math.max(spam_ms, dup_ms, men_ms)
    local recent = redis.call('ZRANGEBYSCORE', z, '(' .. (ts - longest), ts, 'WITHSCORES')
    for r = 1, #recent, 2 do
      local other, at = recent[r], tonumber(recent[r + 1])
      local facts = redis.call('HGET', h, 'm:' .. other) or '0:'
      local sep = string.find(facts, ':', 1, true)
      local m, d = tonumber(string.sub(facts, 1, sep - 1)), string.sub(facts, sep + 1)
      if at > ts - spam_ms then counts[1] = counts[1] + 1 end
      if digest ~= '' and d == digest and at > ts - dup_ms then counts[2] = counts[2] + 1 end
      if at > ts - men_ms then counts[3] = counts[3] + m end
    end
    local verdict = ''
    for r = 1, 3 do
      local flag = '0'
      if string.sub(mask, r, r) == '1' and counts[r] >= limits[r][1] then
        flag = '1'
        local last = tonumber(redis.call('HGET', h, 'f:' .. names[r]) or '-1')
        if last < 0 or ts - last >= limits[r][2] then
          flag = '2'
          redis.call('HSET', h, 'f:' .. names[r], ts)
        end
      end
      verdict = verdict .. flag
    end
    redis.call('HSET', h, 'v:' .. id, verdict)
    out[#out + 1] = verdict
    local size = redis.call('ZCARD', z)
    if size > cap then
      forget(z, h, redis.call('ZRANGE', z, 0, size - cap - 1))
    end
    forget(z, h, redis.call('ZRANGEBYSCORE', z, '-inf', ts - retention, 'LIMIT', 0, 10))
  end
  redis.call('PEXPIRE', z, retention)
  redis.call('PEXPIRE', h, retention)
end
return out
"""


@dataclasses.dataclass(frozen=True, slots=True)
class WindowLimits:
    spam_messages: int
    spam_window_seconds: int
    duplicate_messages: int
    duplicate_window_seconds: int
    window_mentions: int
    mention_window_seconds: int

    @property
    def retention_ms(self) -> int:
        """The longest window, plus a margin for late messages."""
        longest = max(
            self.spam_window_seconds, self.duplicate_window_seconds, self.mention_window_seconds
        )
        return (longest + 300) * 1000


@dataclasses.dataclass(frozen=True, slots=True)
class Windowed:
    """One message for the script: ids, time, mentions, text, and which rules apply to it."""

    message_id: int
    author_id: int
    timestamp_ms: int
    mentions: int
    content: str
    applies: tuple[bool, bool, bool]


@dataclasses.dataclass(frozen=True, slots=True)
class WindowVerdict:
    """Per rule of :data:`WINDOW_RULES`: None (kept), "violation" or "offense"."""

    flags: dict[str, typing.Literal["violation", "offense"]]


def digest(content: str) -> str:
    text = " ".join(normalise(content).split())
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest() if text else ""


async def judge_windows(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    guild_id: int,
    limits: WindowLimits,
    messages: Sequence[Windowed],
) -> list[WindowVerdict]:
    """Record `messages` (in time order) and judge each against the windows; see module docs."""
    if not messages:
        return []
    keys: list[str] = []
    args: list[int | str] = [
        limits.spam_messages,
        limits.spam_window_seconds * 1000,
        limits.duplicate_messages,
        limits.duplicate_window_seconds * 1000,
        limits.window_mentions,
        limits.mention_window_seconds * 1000,
        limits.retention_ms,
        HISTORY_CAP,
    ]
    for message in messages:
        keys += [
            keyspace.key("automod_recent", guild_id, message.author_id),
            keyspace.key("automod_state", guild_id, message.author_id),
        ]
        args += [
            message.message_id,
            message.timestamp_ms,
            message.mentions,
            digest(message.content),
            "".join("1" if on else "0" for on in message.applies),
        ]
    script = redis.register_script(_JUDGE)
    raw = await script(keys=keys, args=args)
    verdicts = []
    for value in raw:
        text = value.decode() if isinstance(value, bytes) else str(value)
        flags: dict[str, typing.Literal["violation", "offense"]] = {}
        for rule, flag in zip(WINDOW_RULES, text, strict=True):
            if flag != "0":
                flags[rule] = "offense" if flag == "2" else "violation"
        verdicts.append(WindowVerdict(flags))
    return verdicts
