"""Identify pacing across shard processes and hosts, through Redis.

Discord lets a bot start `max_concurrency` sessions per 5 seconds (GET /gateway/bot
`session_start_limit.max_concurrency`), one per *bucket* `shard_id % max_concurrency`: two
IDENTIFYs of one bucket must be at least 5 s apart, whichever process or host sends them.
hikari paces only the shards of its own process (and only at start, not the IDENTIFY after an
invalid session), so processes started together on several hosts would identify one bucket
at once.

:class:`IdentifyGate` holds, per bucket, the key `<ns>:identify_slot:<bucket>` (SET NX): a
shard takes it before it sends IDENTIFY and sets it again right after sending, to expire
:data:`MARGIN_SECONDS` after the interval has passed since the IDENTIFY left. Anyone else
waits until it expires. A process that dies holds nothing longer than that: the key's TTL is
the lease. One key per bucket, two commands per IDENTIFY, no script; nothing grows with
history.

`resume.py` calls the gate from the shard just before hikari sends IDENTIFY (after HELLO, the
moment Discord counts), never before RESUME.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import socket
import time
import typing

import redis.asyncio as aioredis
import structlog

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from townsquare.core.keyspace import Keyspace

__all__ = ["MARGIN_SECONDS", "IdentifyGate", "IdentifyPermit"]

_log = structlog.get_logger(__name__)

MARGIN_SECONDS: typing.Final = 0.25
"""Added to the interval: the IDENTIFY reaches Discord a little after it leaves, and not
always equally late."""
_POLL_FLOOR_SECONDS: typing.Final = 0.01
_NO_TTL: typing.Final = -1
"""PTTL of a key without expiry."""


@dataclasses.dataclass(frozen=True, slots=True)
class IdentifyPermit:
    """A bucket's slot, held from :meth:`IdentifyGate.acquire` until it expires."""

    key: str
    bucket: int
    token: str


class IdentifyGate:
    """One IDENTIFY per bucket per `interval` seconds across every process sharing Redis.

    `max_concurrency` is asked once, lazily, at the first IDENTIFY (hikari's REST client is
    started by then), unless given; while asking fails, the IDENTIFY waits and asks again
    every interval (without it, no bucket is known to be free). `interval` 0 turns the gate
    off (a sandbox that does not check). If Redis does not answer, the shard waits a whole
    interval and identifies: it cannot know whether another holds the bucket.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        keyspace: Keyspace,
        *,
        interval: float,
        max_concurrency: int | Callable[[], Awaitable[int]],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._redis = redis
        self._keyspace = keyspace
        self.interval = interval
        self._max_concurrency = max_concurrency
        self._concurrency: int | None = (
            max_concurrency if isinstance(max_concurrency, int) else None
        )
        self._asking = asyncio.Lock()
        self._clock = clock
        self._sleep = sleep
        self._owner = f"{socket.gethostname()}:{os.getpid()}"  # keyspace: not a key

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    @property
    def _ttl_ms(self) -> int:
        return round((self.interval + MARGIN_SECONDS) * 1000)

    async def bucket(self, shard_id: int) -> int:
        async with self._asking:  # the shards of a process identify at once: ask once
            if self._concurrency is None:
                assert not isinstance(self._max_concurrency, int)
                self._concurrency = await self._ask_max_concurrency(self._max_concurrency)
        return shard_id % self._concurrency

    async def _ask_max_concurrency(self, ask: Callable[[], Awaitable[int]]) -> int:
        while True:
            try:
                return max(1, await ask())
            except Exception as error:  # never kill the shard's connection over it
                _log.warning("max_concurrency not known; asking again", error=repr(error))
                await self._sleep(self.interval)

    async def acquire(self, shard_id: int) -> IdentifyPermit | None:
        """Wait until `shard_id`'s bucket is free and take it; None when the gate is off or
        Redis did not answer (then after waiting one interval)."""
        if not self.enabled:
            return None
        bucket = await self.bucket(shard_id)
        key = self._keyspace.key("identify_slot", bucket)
        token = f"{self._owner}:{shard_id}:{secrets.token_hex(4)}"  # keyspace: not a key
        started = self._clock()
        try:
            while not await self._redis.set(key, token, nx=True, px=self._ttl_ms):
                left_ms = await self._redis.pttl(key)
                if left_ms == _NO_TTL:  # not written by a gate: give it one, never wait forever
                    await self._redis.pexpire(key, self._ttl_ms, nx=True)
                    left_ms = self._ttl_ms
                await self._sleep(max(left_ms / 1000, _POLL_FLOOR_SECONDS))
        except (aioredis.RedisError, OSError) as error:
            _log.warning(
                "identify slot unavailable; waiting one interval", shard=shard_id, error=str(error)
            )
            await self._sleep(self.interval + MARGIN_SECONDS)
            return None
        waited = self._clock() - started
        if waited >= _POLL_FLOOR_SECONDS:
            _log.info("identify waited for its bucket", shard=shard_id, bucket=bucket, s=waited)
        return IdentifyPermit(key, bucket, token)

    async def sent(self, permit: IdentifyPermit | None) -> None:
        """The IDENTIFY has left: hold the bucket a full interval from now."""
        if permit is None:
            return
        try:
            await self._redis.set(permit.key, permit.token, px=self._ttl_ms)
        except (aioredis.RedisError, OSError) as error:  # it still expires from `acquire`
            _log.warning("identify slot not extended", bucket=permit.bucket, error=str(error))
