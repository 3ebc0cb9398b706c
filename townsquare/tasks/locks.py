"""A Redis lease: a lock that expires on its own, so a dead holder cannot keep it.

Used where one process at a time must act (the scheduler, a pipeline's reclaim round). The
holder is identified by a random token, and renewing or releasing checks the token in one
Lua call, so a holder whose lease already expired can never release or extend a lease that a
standby has taken since.
"""

from __future__ import annotations

import typing
import uuid

if typing.TYPE_CHECKING:
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
        """Take the lease if nobody holds it; True when this holder has it now."""
        return bool(await self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms))

    async def renew(self) -> bool:
        """Extend the lease by its TTL; False when it expired and someone else may hold it."""
        return bool(await self._renew(keys=[self.key], args=[self.token, self.ttl_ms]))

    async def release(self) -> None:
        """Give the lease up if this holder still has it."""
        await self._release(keys=[self.key], args=[self.token])
