"""What the console reads from Redis, as plain values: shard health, queue state, alerts.

Everything here is read-only and uses non-blocking commands (HGETALL, XINFO, XPENDING,
XRANGE, ZCARD, XLEN, SCAN); nothing waits on a stream. Rates (events/s trends, stream
throughput) need successive readings, which :class:`Trend` and :class:`RateMeter` keep.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import math
import typing

from redis.exceptions import ResponseError

from townsquare.core.alerts import acknowledged
from townsquare.core.features import pipeline_names
from townsquare.core.replies import as_text
from townsquare.core.shard_health import HEALTH_FIELDS

if typing.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = [
    "SHARD_FIELDS",
    "STALE_AFTER_SECONDS",
    "Alert",
    "QueueStats",
    "RateMeter",
    "ShardHealth",
    "Trend",
    "parse_time",
    "read_alerts",
    "read_queues",
    "read_shards",
    "redis_now",
]


STALE_AFTER_SECONDS: typing.Final = 10.0
"""A shard whose last health report is older than this is shown as stale."""

SHARD_FIELDS = HEALTH_FIELDS

_REPORT_TIME_FIELDS = ("updated_at", "reported_at", "heartbeat_at", "at")
_CONNECTED_STATES = frozenset({"connected", "ready", "resumed", "running", "online"})


def _text(value: bytes | str | None) -> str:
    return as_text(value, errors="replace")


def _number(value: str | None) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_time(value: str | None) -> datetime.datetime | None:
    """An ISO 8601 time or Unix seconds (or milliseconds) as an aware UTC datetime."""
    if not value:
        return None
    number = _number(value)
    if number is not None:
        seconds = number / 1000 if number > 10**11 else number
        return datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class ShardHealth:
    """One shard's health hash, as read."""

    shard_id: int
    fields: dict[str, str]
    report_age: float | None
    """Seconds since the shard last wrote its hash; None when it cannot be told."""

    @property
    def state(self) -> str:
        return self.fields.get("state", "?")

    @property
    def latency_ms(self) -> float | None:
        """Gateway heartbeat latency in ms: `latency_ms`, else `latency` in seconds."""
        if (ms := _number(self.fields.get("latency_ms"))) is not None:
            return ms
        seconds = _number(self.fields.get("latency"))
        return None if seconds is None else seconds * 1000

    @property
    def guilds(self) -> int | None:
        number = _number(self.fields.get("guilds"))
        return None if number is None else int(number)

    @property
    def events_per_second(self) -> float | None:
        return _number(self.fields.get("events_per_second"))

    @property
    def resumes(self) -> int | None:
        number = _number(self.fields.get("resumes"))
        return None if number is None else int(number)

    @property
    def stale(self) -> bool:
        return self.report_age is not None and self.report_age > STALE_AFTER_SECONDS

    @property
    def disconnected(self) -> bool:
        return self.state.lower() not in _CONNECTED_STATES

    @property
    def healthy(self) -> bool:
        return not (self.stale or self.disconnected)


async def read_shards(
    redis: aioredis.Redis, keyspace: Keyspace, now: datetime.datetime
) -> list[ShardHealth]:
    """Every shard's health hash, by shard id.

    The age of a report comes from its time field (`updated_at`, Unix ms, as shards write it;
    else `reported_at`, `heartbeat_at` or `at`); without one, from the key's remaining TTL,
    which the shard resets to the family's TTL on every write.
    """
    prefix = keyspace.pattern("shard_health")[:-1]
    keys = sorted(
        [_text(key) async for key in redis.scan_iter(match=keyspace.pattern("shard_health"))],
        key=lambda key: int(key[len(prefix) :]) if key[len(prefix) :].isdigit() else -1,
    )
    if not keys:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hgetall(key)
            pipe.pttl(key)
        replies = await pipe.execute()
    full_ttl = keyspace.ttl("shard_health")
    shards = []
    for index, key in enumerate(keys):
        raw, ttl_ms = replies[2 * index], replies[2 * index + 1]
        suffix = key[len(prefix) :]
        if not raw or not suffix.isdigit():
            continue
        fields = {_text(name): _text(value) for name, value in raw.items()}
        reported = next(
            (t for name in _REPORT_TIME_FIELDS if (t := parse_time(fields.get(name)))), None
        )
        age: float | None = None
        if reported is not None:
            age = max(0.0, (now - reported).total_seconds())
        elif full_ttl is not None and ttl_ms is not None and ttl_ms >= 0:
            age = max(0.0, full_ttl - ttl_ms / 1000)
        shards.append(ShardHealth(int(suffix), fields, age))
    return shards


@dataclasses.dataclass(frozen=True, slots=True)
class QueueStats:
    """One pipeline stream and its companions, read at `read_at` (Redis server time)."""

    pipeline: str
    length: int
    pending: int
    consumers: int
    oldest_pending_age: float | None
    """Seconds since the oldest unacknowledged message was queued (its stream id's time)."""
    entries_added: int
    """Messages ever added to the stream (XINFO STREAM), the counter behind the in-rate."""
    entries_read: int | None
    """Messages ever delivered to the group (XINFO GROUPS), behind the out-rate."""
    lag: int | None
    """Messages in the stream the group has not read yet."""
    retries: int
    dead_letters: int
    exists: bool


def _stream_id_time(entry_id: str) -> datetime.datetime | None:
    millis, _, _ = entry_id.partition("-")
    if not millis.isdigit():
        return None
    return datetime.datetime.fromtimestamp(int(millis) / 1000, datetime.UTC)


async def _read_queue(
    redis: aioredis.Redis, keyspace: Keyspace, pipeline: str, now: datetime.datetime
) -> QueueStats:
    stream = keyspace.key("stream", pipeline)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zcard(keyspace.key("retry", pipeline))
        pipe.xlen(keyspace.key("dead_letter", pipeline))
        retries, dead_letters = await pipe.execute()
    try:
        info = await redis.xinfo_stream(stream)
        groups = await redis.xinfo_groups(stream)
    except ResponseError:  # no such key: no producer or worker has touched the pipeline yet
        return QueueStats(pipeline, 0, 0, 0, None, 0, None, None, retries, dead_letters, False)
    pending = consumers = 0
    entries_read: int | None = None
    lag: int | None = None
    oldest: datetime.datetime | None = None
    for group in groups:
        pending += int(group.get("pending") or 0)
        consumers += int(group.get("consumers") or 0)
        if group.get("entries-read") is not None:
            entries_read = (entries_read or 0) + int(group["entries-read"])
        if group.get("lag") is not None:
            lag = max(lag or 0, int(group["lag"]))
        if int(group.get("pending") or 0):
            summary = await redis.xpending(stream, _text(group["name"]))
            first = _stream_id_time(_text(summary.get("min")))
            if first is not None and (oldest is None or first < oldest):
                oldest = first
    return QueueStats(
        pipeline=pipeline,
        length=int(info.get("length") or 0),
        pending=pending,
        consumers=consumers,
        oldest_pending_age=None if oldest is None else max(0.0, (now - oldest).total_seconds()),
        entries_added=int(info.get("entries-added") or info.get("length") or 0),
        entries_read=entries_read,
        lag=lag,
        retries=int(retries),
        dead_letters=int(dead_letters),
        exists=True,
    )


async def read_queues(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    now: datetime.datetime,
    pipelines: Sequence[str] | None = None,
) -> list[QueueStats]:
    """Each pipeline's (default: every one of the enabled features') stream, consumer group,
    retry set and dead-letter stream."""
    chosen = pipeline_names() if pipelines is None else pipelines
    return [await _read_queue(redis, keyspace, pipeline, now) for pipeline in chosen]


@dataclasses.dataclass(frozen=True, slots=True)
class Alert:
    entry_id: str
    at: datetime.datetime | None
    level: str
    source: str
    message: str
    fields: dict[str, str]
    acknowledged: bool = False


async def read_alerts(redis: aioredis.Redis, keyspace: Keyspace, *, count: int = 50) -> list[Alert]:
    """The newest `count` entries of the alert stream, newest first, each marked when someone
    acknowledged it."""
    entries = await redis.xrevrange(keyspace.key("alerts"), count=count) or []
    seen = await acknowledged(redis, keyspace, [_text(entry_id) for entry_id, _ in entries])
    alerts = []
    for entry_id, raw in entries:
        fields = {_text(name): _text(value) for name, value in (raw or {}).items()}
        entry = _text(entry_id)
        at = parse_time(fields.get("at")) or _stream_id_time(entry)
        message = fields.get("message") or " ".join(
            f"{name}={value}" for name, value in fields.items()
        )
        alerts.append(
            Alert(
                entry,
                at,
                fields.get("level", ""),
                fields.get("source", ""),
                message,
                fields,
                entry in seen,
            )
        )
    return alerts


async def redis_now(redis: aioredis.Redis) -> datetime.datetime:
    """The Redis server's clock, which also stamps stream ids."""
    seconds, micros = await redis.time()
    return datetime.datetime.fromtimestamp(seconds + micros / 1_000_000, datetime.UTC)


class Trend:
    """The last `size` values of several series, for sparklines."""

    def __init__(self, size: int = 30) -> None:
        self.size = size
        self._series: dict[str, collections.deque[float]] = {}

    def push(self, name: str, value: float) -> None:
        self._series.setdefault(name, collections.deque(maxlen=self.size)).append(value)

    def values(self, name: str) -> list[float]:
        return list(self._series.get(name, ()))

    def keep_only(self, names: Mapping[str, object] | set[str]) -> None:
        for name in set(self._series) - set(names):
            del self._series[name]


class RateMeter:
    """Per-second rates from successive readings of ever-growing counters."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, datetime.datetime]] = {}

    def rate(self, name: str, counter: float | None, at: datetime.datetime) -> float | None:
        """The rate since the previous reading of `name`; None on the first (or a reset)."""
        if counter is None:
            return None
        previous = self._last.get(name)
        self._last[name] = (counter, at)
        if previous is None:
            return None
        elapsed = (at - previous[1]).total_seconds()
        if elapsed <= 0 or counter < previous[0]:
            return None
        return (counter - previous[0]) / elapsed
