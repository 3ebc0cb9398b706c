"""A platform's rate-limit bucket, shared by every process through Redis (`streams_rate`).

Helix counts points per app (client id), and every process of the deployment spends them
from the same bucket: what one process learned from an answer (`Ratelimit-Remaining`,
`Ratelimit-Reset`) is written to Redis, and every process takes a point from there before
each request. While the bucket is known to be empty, a request waits for its reset instead
of spending a 429.

- :func:`record`: an answer's headers. A later reset replaces the window; the same reset
  keeps the lowest count (answers arrive out of order); an earlier one is ignored.
- :func:`take`: a point from the current window, or how long to wait for its reset; no
  known window (none seen, or its reset has passed) means go.

The window is kept until its reset (the key expires then). The model is conservative: Helix
refills its bucket continuously, and a window counted down here only refills at its reset.
Each call is one short script over one hash (two fields), bounded whatever the traffic.
"""

from __future__ import annotations

import time
import typing

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = ["record", "take"]

_TAKE = """
local reset = tonumber(redis.call('HGET', KEYS[1], 'reset') or '0')
local now = tonumber(ARGV[1])
if reset <= now then return 0 end
local left = tonumber(redis.call('HGET', KEYS[1], 'remaining') or '0')
if left > 0 then
  redis.call('HINCRBY', KEYS[1], 'remaining', -1)
  return 0
end
return reset - now
"""

_RECORD = """
local remaining, reset = tonumber(ARGV[1]), tonumber(ARGV[2])
local known = tonumber(redis.call('HGET', KEYS[1], 'reset') or '0')
if reset < known then return 0 end
if reset == known then
  local left = tonumber(redis.call('HGET', KEYS[1], 'remaining') or '0')
  if left <= remaining then return 0 end
end
redis.call('HSET', KEYS[1], 'remaining', remaining, 'reset', reset)
redis.call('PEXPIREAT', KEYS[1], reset)
return 1
"""


async def _run(redis: aioredis.Redis, script: str, key: str, *args: int) -> int:
    # register_script only hashes the text; the call sends EVALSHA (EVAL once per server).
    return int(await redis.register_script(script)(keys=[key], args=list(args)))


def _key(keyspace: Keyspace, platform: str) -> str:
    return keyspace.key("streams_rate", platform)


async def take(
    redis: aioredis.Redis, keyspace: Keyspace, platform: str, now: float | None = None
) -> float:
    """Take a point from `platform`'s shared bucket: 0 when the request may go, otherwise
    the seconds until the bucket's reset."""
    now_ms = int((time.time() if now is None else now) * 1000)
    return await _run(redis, _TAKE, _key(keyspace, platform), now_ms) / 1000


async def record(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    platform: str,
    headers: typing.Mapping[str, str],
    now: float | None = None,
) -> bool:
    """Write what an answer's `Ratelimit-Remaining` and `Ratelimit-Reset` (epoch seconds) say
    about the bucket; whether they changed what is known. Answers without them (or with a
    reset already past) change nothing."""
    remaining = headers.get("Ratelimit-Remaining", "").strip()
    reset = headers.get("Ratelimit-Reset", "").strip()
    if not (remaining.isdigit() and reset.isdigit()):
        return False
    reset_ms = int(reset) * 1000
    if reset_ms <= int((time.time() if now is None else now) * 1000):
        return False
    return bool(await _run(redis, _RECORD, _key(keyspace, platform), int(remaining), reset_ms))
