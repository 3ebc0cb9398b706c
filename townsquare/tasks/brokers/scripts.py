"""Lua scripts that move a message between Redis keys in one atomic step.

Each runs on the Redis server's clock (`TIME`), so workers whose clocks disagree still agree
on when a retry is due. They touch two keys (a stream and its retry set), which share the
pipeline's hash tag (`{<pipeline>}`), so they run on a Redis Cluster too.
"""

from __future__ import annotations

__all__ = ["DEFER", "MOVE_DUE", "TOUCH_OWNED"]

DEFER = """
-- KEYS: retry set, stream. ARGV: delay ms, message, consumer group, entry id ('' = none).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
if ARGV[4] ~= '' then
  redis.call('XACK', KEYS[2], ARGV[3], ARGV[4])
end
return now
"""
"""Park a failed message in the retry set until its next attempt, acknowledging its entry."""

MOVE_DUE = """
-- KEYS: retry set, stream. ARGV: stream MAXLEN (approximate), most messages to move.
-- Returns {moved, now ms[, score of the next waiting message]}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, message in ipairs(due) do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'data', message)
  redis.call('ZREM', KEYS[1], message)
end
local next_due = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {#due, now, next_due[2]}
"""
"""Move retries whose time has come back into the stream, where any worker picks them up."""

TOUCH_OWNED = """
-- KEYS: stream. ARGV: consumer group, consumer, entry ids...
-- Resets the idle time of the entries this consumer still owns; returns how many.
local owned = {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0}
for i = 3, #ARGV do
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #pending > 0 then
    owned[#owned + 1] = ARGV[i]
  end
end
if #owned == 5 then
  return 0
end
owned[#owned + 1] = 'JUSTID'
return #redis.call(unpack(owned))
"""
"""Keep long-running entries from looking abandoned, without stealing one already reclaimed."""
