"""Making a task safe to run twice: a redelivered event changes nothing the second time.

Streams deliver at least once: a worker that dies after doing the work but before the
acknowledgement gets its message redelivered. Two tools, by kind of effect:

- Effects in Redis: put the done marker in the same transaction or Lua script as the effect,
  using :func:`done_key` (`SET key 1 NX EX ttl`, and apply the effect only if it was set).
- Other effects (PostgreSQL, Discord REST): :func:`run_once` takes a short lease on the
  marker, renews it while the work runs, and turns it into a done marker on success or drops
  it on failure so a retry can run. A worker dying mid-work leaves the lease to lapse within
  `lease_seconds`; a redelivery that finds a lease waits for it to lapse (or to become the
  done marker) instead of skipping the work. Before (found by the chaos suite, issue 17), it
  skipped: a worker SIGKILLed while answering an `/ask` left a 300 s lease, the job taken
  over after the `ai` pipeline's idle timeout found it and was acknowledged, and the
  question was never answered.

Event ids are hashed into the key (`done` family), so any text works: a Discord message id,
`"<guild>:<member>:<minute>"`, a webhook's delivery id.
"""

from __future__ import annotations

import asyncio
import contextlib
import typing
import uuid

from townsquare.core.redis_health import cleanup_or_lapse

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = ["DEFAULT_DONE_TTL_SECONDS", "DEFAULT_LEASE_SECONDS", "done_key", "run_once"]

DEFAULT_DONE_TTL_SECONDS: typing.Final = 86_400
"""A day: longer than any retry schedule, dead letters are replayed as new work anyway."""
DEFAULT_LEASE_SECONDS: typing.Final = 30.0
"""How long a dead worker's lease outlives it; renewed every third of it while work runs."""
_WAIT_POLL_SECONDS: typing.Final = 0.5

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


_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
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
    """Run `work` unless this event was already handled.

    Returns `(True, result)` when `work` ran now, `(False, None)` when it was done already
    (here or by another delivery). A delivery that finds the work running elsewhere, or a
    dead worker's lease not lapsed yet, waits for either outcome. If `work` raises, the
    marker is removed and the exception propagates, so the retry runs it.
    """
    key = done_key(keyspace, scope, event_id)
    token = _RUNNING + b":" + uuid.uuid4().hex.encode()
    lease_ms = max(1, round(lease_seconds * 1000))
    finish = redis.register_script(_FINISH)
    try:
        while not await redis.set(key, token, nx=True, px=lease_ms):
            holder = await redis.get(key)
            if holder == token:
                break  # our own SET, applied, its reply lost and the SET resent by the client
            if holder == _DONE:
                return False, None
            await asyncio.sleep(_WAIT_POLL_SECONDS)  # running elsewhere, or a dead worker's
    except BaseException:
        # Cancelled (a worker stopping) or failed with the SET in flight: Redis may have
        # applied it, and a lease left behind would hold up the redelivery for its TTL.
        await cleanup_or_lapse(finish(keys=[key], args=[token, 0, b""]), key=key)
        raise
    renewing = asyncio.create_task(_renew(redis, key, token, lease_ms))
    try:
        result = await work()
    except BaseException:
        renewing.cancel()
        # The work's own exception (or cancellation) is what propagates: a Redis failure
        # here leaves the lease to lapse, and the retry waits for it.
        await cleanup_or_lapse(finish(keys=[key], args=[token, 0, b""]), key=key)
        raise
    renewing.cancel()
    # Shielded: a cancellation now must not leave a lease without its done marker, which
    # would have the redelivery run the finished work again.
    await asyncio.shield(finish(keys=[key], args=[token, ttl_seconds, _DONE]))
    return True, result


async def _renew(redis: aioredis.Redis, key: str, token: bytes, lease_ms: int) -> None:
    """Keep the lease while the work runs (a failed renewal is tried again next time)."""
    renew = redis.register_script(_RENEW)
    while True:
        await asyncio.sleep(lease_ms / 3000)
        with contextlib.suppress(Exception):
            await renew(keys=[key], args=[token, lease_ms])
