"""Making a task safe to run twice: a redelivered event changes nothing the second time.

Streams deliver at least once: a worker that dies after doing the work but before the
acknowledgement gets its message redelivered. Two tools, by kind of effect:

- Effects in Redis: put the done marker in the same transaction or Lua script as the effect,
  using :func:`done_key` (`SET key 1 NX EX ttl`, and apply the effect only if it was set).
- Other effects (PostgreSQL, Discord REST): :func:`run_once` takes a short lease on the
  marker, runs the work, and turns the lease into a done marker on success or drops it on
  failure so a retry can run. A worker dying mid-work leaves the lease to expire.

Event ids are hashed into the key (`done` family), so any text works: a Discord message id,
`"<guild>:<member>:<minute>"`, a webhook's delivery id.
"""

from __future__ import annotations

import typing
import uuid

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = ["DEFAULT_DONE_TTL_SECONDS", "DEFAULT_LEASE_SECONDS", "done_key", "run_once"]

DEFAULT_DONE_TTL_SECONDS: typing.Final = 86_400
"""A day: longer than any retry schedule, dead letters are replayed as new work anyway."""
DEFAULT_LEASE_SECONDS: typing.Final = 300.0

_RUNNING = b"running"
_DONE = b"done"

_FINISH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[2] == '0' then
    return redis.call('DEL', KEYS[1])
  end
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[2])
  return 1
end
return 0
"""


def done_key(keyspace: Keyspace, scope: str, event_id: str) -> str:
    """The marker key of `event_id` within `scope` (a short name, e.g. `xp_message`)."""
    return keyspace.key("done", scope, event_id)


async def run_once[Result](
    redis: aioredis.Redis,
    keyspace: Keyspace,
    scope: str,
    event_id: str,
    work: Callable[[], Awaitable[Result]],
    *,
    ttl_seconds: int = DEFAULT_DONE_TTL_SECONDS,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> tuple[bool, Result | None]:
    """Run `work` unless this event was already handled (or is being handled right now).

    Returns `(True, result)` when `work` ran now, `(False, None)` when it was skipped. If
    `work` raises, the marker is removed and the exception propagates, so the retry runs it.
    `lease_seconds` must exceed the work's longest run, like a pipeline's idle timeout.
    """
    key = done_key(keyspace, scope, event_id)
    token = _RUNNING + b":" + uuid.uuid4().hex.encode()
    if not await redis.set(key, token, nx=True, px=max(1, round(lease_seconds * 1000))):
        return False, None
    finish = redis.register_script(_FINISH)
    try:
        result = await work()
    except BaseException:
        await finish(keys=[key], args=[token, 0, b""])
        raise
    await finish(keys=[key], args=[token, ttl_seconds, _DONE])
    return True, result
