"""A Redis lease: a lock that expires on its own, so a dead holder cannot keep it.

Used where one process at a time must act (the scheduler, a pipeline's reclaim round). The
holder is identified by a random token, and renewing or releasing checks the token in one
Lua call, so a holder whose lease already expired can never release or extend a lease that a
standby has taken since.

Take a lease with :meth:`RedisLease.held` rather than `acquire` and a `finally`: a task
cancelled while its `SET` is in flight (a worker stopping) may have taken the lease in Redis
without ever learning it, and only `held` gives that lease back instead of leaving it to lapse.
"""

from __future__ import annotations

import contextlib
import typing
import uuid

from townsquare.core.redis_health import cleanup_or_lapse
from townsquare.core.replies import as_text

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import redis.asyncio as aioredis

__all__ = ["RedisLease"]

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisLease:
    """A lease on `key` for `ttl_seconds`, renewable by its holder."""

    __slots__ = ("_release", "_renew", "key", "redis", "token", "ttl_ms")

    def __init__(self, redis: aioredis.Redis, key: str, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            raise ValueError(f"a lease needs a positive TTL, got {ttl_seconds}")
        self.redis = redis
        self.key = key
        self.ttl_ms = max(1, round(ttl_seconds * 1000))
        self.token = uuid.uuid4().hex
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it; True when this holder has it now.

        A `SET` refused may be this holder's own, applied once already: a client that lost
        the reply with its connection sends the command again (the cluster client does).
        """
        if await self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms):
            return True
        return as_text(await self.redis.get(self.key)) == self.token

    async def renew(self) -> bool:
        """Extend the lease by its TTL; False when it expired and someone else may hold it."""
        return bool(await self._renew(keys=[self.key], args=[self.token, self.ttl_ms]))

    async def release(self) -> None:
        """Give the lease up if this holder still has it."""
        await self._release(keys=[self.key], args=[self.token])

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[bool]:
        """Try to take the lease for the block; the block gets whether it holds it.

        On leaving, the lease is given back, even when the block or the `SET` itself was
        cancelled: a `SET` cancelled in flight may have been applied. The release runs
        shielded, so a cancellation that arrives during it does not stop it half-way; a
        release Redis fails is logged and the lease lapses on its TTL.
        """
        try:
            acquired = await self.acquire()
        except BaseException:
            await cleanup_or_lapse(self.release(), key=self.key)
            raise
        if not acquired:
            yield False
            return
        try:
            yield True
        finally:
            await cleanup_or_lapse(self.release(), key=self.key)
