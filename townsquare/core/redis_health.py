"""Is Redis answering? One process's view, and the operator alert when it was not.

Redis can stop answering in two ways that matter here: `BUSY` (a script runs past the
server's busy threshold, 5 s by default, and every other client is refused until it ends) and
unreachable (connection refused, reset or timed out). Either way, nothing can be written to
Redis, including the `alerts` stream that would tell the operator. So:

- at once, when the outage has lasted :data:`ALERT_AFTER_SECONDS`: a log line
  (`redis.unavailable`, level error), which reaches the process's log file and the console's
  log view without Redis;
- when Redis answers again: an operator alert (source `redis`) naming what happened, when
  it started and how long it lasted, and a `redis.recovered` log line. Every process of the
  deployment sees the same outage; :func:`~townsquare.core.alerts.raise_alert_once` makes
  it one alert (the first process to get through raises it; the `alert_once` key lives a
  minute).

:class:`RedisHealth` also tells the task workers how long Redis has answered without a
failure, so a worker does not take over jobs whose owner simply could not renew its claim
while Redis was unavailable (docs/tasks.md, "Reclaim after an outage").
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import time
import typing

import structlog
from redis.exceptions import BusyLoadingError, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from townsquare.core.alerts import raise_alert_once

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = [
    "ALERT_AFTER_SECONDS",
    "CHECK_INTERVAL_SECONDS",
    "CHECK_TIMEOUT_SECONDS",
    "REDIS_FAILURES",
    "Outage",
    "RedisHealth",
    "cleanup_or_lapse",
    "is_unavailable",
    "outage_message",
    "watch_redis",
]

ALERT_AFTER_SECONDS: typing.Final = 3.0
"""An outage this long is logged at once and alerted once Redis answers."""
CHECK_INTERVAL_SECONDS: typing.Final = 0.5
"""How often the watcher pings Redis."""
CHECK_TIMEOUT_SECONDS: typing.Final = 2.0
"""The watcher's socket timeout: a server that does not answer a PING this long counts as
unreachable. Longer than the interval, so a busy event loop on a loaded machine is not taken
for an outage."""
ALERT_CONDITION: typing.Final = "redis_unavailable"
ALERT_DEDUP_SECONDS: typing.Final = 60

logger = structlog.get_logger(__name__)


REDIS_FAILURES: typing.Final = (RedisError, OSError)
"""What a Redis call raises when Redis fails it. Python 3.13.0's asyncio errors on a write
to a reset connection arrive as redis's `ConnectionError` too: every client's connections
come from `townsquare.core.redis_client` (`connect_redis`, `guard_connections`)."""


async def cleanup_or_lapse(cleanup: Awaitable[object], *, key: str) -> None:
    """Await `cleanup`, a write that gives up `key` (a lease, a marker) which also expires on
    its own: shielded, so a cancellation arriving meanwhile does not stop it half-way; when
    Redis fails it, it is logged and `key` lapses by its TTL."""
    try:
        await asyncio.shield(cleanup)
    except REDIS_FAILURES:
        logger.warning("redis.cleanup_left_to_ttl", key=key, exc_info=True)


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` says Redis is not answering (BUSY, loading, connection, timeout),
    as opposed to a reply that refuses this one command."""
    if isinstance(error, BaseExceptionGroup):
        return bool(error.exceptions) and all(is_unavailable(e) for e in error.exceptions)
    if isinstance(error, (RedisConnectionError, RedisTimeoutError, OSError)):
        return True
    if isinstance(error, ResponseError):
        text = str(error)
        return text.startswith(("BUSY", "LOADING", "MASTERDOWN", "TRYAGAIN"))
    return False


_RANK: typing.Final = {"unreachable": 0, "loading": 1, "restarted": 1, "busy": 2}


_DOWN_THEN_LOADING: typing.Final = frozenset({"unreachable", "restarted"})


def _kind(error: BaseException) -> str:
    if isinstance(error, ResponseError) and str(error).startswith("BUSY"):
        return "busy"
    # redis-py turns a LOADING reply into BusyLoadingError (a ConnectionError, the prefix
    # dropped); a raw ResponseError is kept for clients that do not.
    if isinstance(error, BusyLoadingError) or (
        isinstance(error, ResponseError) and str(error).startswith("LOADING")
    ):
        return "loading"
    return "unreachable"


@dataclasses.dataclass(frozen=True, slots=True)
class Outage:
    """A span during which Redis did not answer this process."""

    kind: str
    """`busy` (a script ran too long), `loading`, `unreachable`, or `restarted` (unreachable,
    then loading its data)."""
    started: datetime.datetime
    seconds: float
    error: str
    """The last error seen, as text."""


def outage_message(outage: Outage) -> str:
    """The alert's sentence for `outage`."""
    why = {
        "busy": "answered BUSY: a script ran too long and blocked every client",
        "loading": "was loading its data",
        "unreachable": "was unreachable",
        "restarted": "was unreachable, then loading its data (restarted)",
    }[outage.kind]
    return (
        f"Redis {why} for {outage.seconds:.0f} s from "
        f"{outage.started.isoformat(timespec='seconds')} (last error: {outage.error[:200]}); "
        "jobs waited and were retried, check the logs of that time"
    )


class RedisHealth:
    """One process's record of Redis failures: fed by every caller that sees one."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self._clock = clock
        self._wall = wall
        self._started: float | None = None
        self._started_at: datetime.datetime | None = None
        self._last_failure: float | None = None
        self._kind = "unreachable"
        self._error = ""
        self.logged = False

    def failed(self, error: BaseException) -> None:
        """Note a failure that means Redis is not answering (others are ignored)."""
        if not is_unavailable(error):
            return
        now = self._clock()
        if self._started is None:
            self._started, self._started_at = now, self._wall()
            self.logged = False
        self._last_failure = now
        kind = _kind(error)
        if kind == "loading" and self._started != now and self._kind in _DOWN_THEN_LOADING:
            kind = "restarted"  # down, then back and loading: neither alone says what happened
        # BUSY (or LOADING) explains the outage; timeouts and refusals during it are its
        # symptoms, so the most specific kind seen in one outage is the one reported.
        if self._started == now or _RANK[kind] >= _RANK[self._kind]:
            self._kind = kind
            self._error = f"{type(error).__name__}: {error}"

    def answered(self) -> Outage | None:
        """Note that Redis answered; returns the outage it ends, if any."""
        if self._started is None or self._started_at is None:
            return None
        outage = Outage(self._kind, self._started_at, self._clock() - self._started, self._error)
        self._started = self._started_at = None
        return outage

    def outage_seconds(self) -> float:
        """How long the current outage has lasted (0 when Redis answers)."""
        return 0.0 if self._started is None else self._clock() - self._started

    def healthy_for(self) -> float:
        """Seconds since the last failure (infinite when there never was one)."""
        if self._last_failure is None:
            return float("inf")
        return self._clock() - self._last_failure

    @property
    def current_kind(self) -> str:
        return self._kind

    @property
    def current_error(self) -> str:
        return self._error


async def watch_redis(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    health: RedisHealth,
    stop: asyncio.Event,
    *,
    interval: float = CHECK_INTERVAL_SECONDS,
    alert_after: float = ALERT_AFTER_SECONDS,
    source: str = "redis",
) -> None:
    """PING Redis every `interval` until `stop`; log and alert outages (module docstring).

    `redis` should time out within `interval` (a blackholed server never answers at all).
    """
    pending: Outage | None = None
    while not stop.is_set():
        try:
            await redis.ping()
        except REDIS_FAILURES as error:
            health.failed(error)
            if health.outage_seconds() >= alert_after and not health.logged:
                health.logged = True
                logger.error(
                    "redis.unavailable",
                    kind=health.current_kind,
                    seconds=round(health.outage_seconds(), 1),
                    error=health.current_error,
                )
        else:
            ended = health.answered()
            if ended is not None and ended.seconds >= alert_after:
                logger.warning("redis.recovered", kind=ended.kind, seconds=round(ended.seconds, 1))
                pending = ended
            if pending is not None:
                try:
                    await raise_alert_once(
                        redis,
                        keyspace,
                        condition=ALERT_CONDITION,
                        within_seconds=ALERT_DEDUP_SECONDS,
                        source=source,
                        message=outage_message(pending),
                    )
                    pending = None
                except REDIS_FAILURES as error:
                    health.failed(error)  # tried again at the next answer
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
