"""Writing the rollups (`activity_rollups`) and reading them for the overview.

Every write is an absolute value, so the job is idempotent: run twice, killed half-way and run
again, or run by two schedulers at once, it writes the same numbers.

- :func:`flush_counters`: each pending bucket of the hot counts (`core.activity.counters`) is
  read in one script call (counts, distinct members of the hour, and of its day after adding
  the hour's members to the day's HyperLogLog, and the bucket's change counter), upserted,
  and its pending field removed only if the counter is unchanged: a bucket written during
  the flush stays pending. A hot value never lowers a stored one (a Redis that lost its data
  restarts an hour from zero).
- :func:`roll_up_sources`: each durable source (:class:`ActivitySource`) is counted again over
  the hours from its high-water mark (`activity_marks`), less :data:`LOOKBACK` for rows written
  late with an earlier time, to now; the first run counts the last :data:`HISTORY_DAYS` days.
- Day rows of additive metrics are sums of their hour rows, recomputed for the days touched;
  distinct members of a day come from the day's HyperLogLog.
"""

from __future__ import annotations

import datetime
import typing

from tortoise import Tortoise

from townsquare.core.activity.counters import COUNTS_TTL_SECONDS, HOUR_MS, split_pending_field
from townsquare.core.activity.metrics import ACTIVE_MEMBERS, METRICS
from townsquare.core.keyspace import guild_bucket

if typing.TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import redis.asyncio as aioredis

    from townsquare.core.activity.metrics import ActivitySource, Metric
    from townsquare.core.keyspace import Keyspace

__all__ = [
    "HISTORY_DAYS",
    "LOOKBACK",
    "DailySeries",
    "daily_series",
    "flush_counters",
    "roll_up_sources",
]

HISTORY_DAYS: typing.Final = 30
"""What the overview shows, and how far back a source's first rollup counts."""
LOOKBACK: typing.Final = datetime.timedelta(hours=2)
"""Hours before the mark counted again each run (rows written late with an earlier time)."""
_UTC: typing.Final = datetime.UTC
_NON_ADDITIVE: typing.Final = [metric.name for metric in METRICS if not metric.additive]

# KEYS: activity_counts, activity_members, activity_members_day, activity_pending.
# ARGV: the pending field, the day HyperLogLog's TTL. The hour's members go into the day's
# HyperLogLog (here, once a minute, not in the pipelines' scripts). Returns: counter (''
# when not pending), distinct members of the hour, of the day, then the counts hash
# (metric, n, ...).
_SNAPSHOT: typing.Final = """
local counter = redis.call('HGET', KEYS[4], ARGV[1]) or ''
local cursor = '0'
repeat
  local page = redis.call('SSCAN', KEYS[2], cursor, 'COUNT', 500)
  cursor = page[1]
  if #page[2] > 0 then redis.call('PFADD', KEYS[3], unpack(page[2])) end
until cursor == '0'
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[2]))
local out = {counter, redis.call('SCARD', KEYS[2]), redis.call('PFCOUNT', KEYS[3])}
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do out[#out + 1] = v end
return out
"""
# KEYS: activity_pending. ARGV: field, counter seen.
_CLEAR: typing.Final = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""

_UPSERT_HOT: typing.Final = """
INSERT INTO activity_rollups (guild_id, period, bucket, metric, value)
SELECT $1, t.period, t.bucket, t.metric, t.value
FROM unnest($2::text[], $3::timestamptz[], $4::text[], $5::bigint[])
    AS t(period, bucket, metric, value)
ON CONFLICT (guild_id, period, bucket, metric)
DO UPDATE SET value = GREATEST(activity_rollups.value, EXCLUDED.value)
"""
_UPSERT_SOURCE: typing.Final = """
INSERT INTO activity_rollups (guild_id, period, bucket, metric, value)
SELECT t.guild_id, 'hour', t.bucket, $1, t.value
FROM unnest($2::bigint[], $3::timestamptz[], $4::bigint[]) AS t(guild_id, bucket, value)
ON CONFLICT (guild_id, period, bucket, metric) DO UPDATE SET value = EXCLUDED.value
"""
_SUM_DAYS: typing.Final = """
INSERT INTO activity_rollups (guild_id, period, bucket, metric, value)
SELECT guild_id, 'day', date_trunc('day', bucket, 'UTC'), metric, sum(value)
FROM activity_rollups
WHERE period = 'hour' AND guild_id = ANY($1::bigint[]) AND bucket >= $2 AND bucket < $3
    AND metric <> ALL($4::text[])
GROUP BY guild_id, date_trunc('day', bucket, 'UTC'), metric
ON CONFLICT (guild_id, period, bucket, metric) DO UPDATE SET value = EXCLUDED.value
"""
_READ_MARK: typing.Final = "SELECT rolled_to FROM activity_marks WHERE source = $1"
_WRITE_MARK: typing.Final = """
INSERT INTO activity_marks (source, rolled_to) VALUES ($1, $2)
ON CONFLICT (source) DO UPDATE SET rolled_to = GREATEST(activity_marks.rolled_to, $2)
"""
_READ_DAYS: typing.Final = """
SELECT bucket, metric, value FROM activity_rollups
WHERE guild_id = $1 AND period = 'day' AND bucket >= $2 AND bucket < $3
"""


def _hour_start(hour: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(hour * HOUR_MS / 1000, _UTC)


def _floor_hour(at: datetime.datetime) -> datetime.datetime:
    return at.astimezone(_UTC).replace(minute=0, second=0, microsecond=0)


def _floor_day(at: datetime.datetime) -> datetime.datetime:
    return _floor_hour(at).replace(hour=0)


async def _sum_days(guilds: Iterable[int], since: datetime.datetime) -> None:
    """Recompute the day rows of additive metrics for `guilds`, from `since`'s day on."""
    ids = sorted(set(guilds))
    if not ids:
        return
    start = _floor_day(since)
    end = datetime.datetime.max.replace(tzinfo=_UTC)
    connection = Tortoise.get_connection("default")
    await connection.execute_query(_SUM_DAYS, [ids, start, end, _NON_ADDITIVE])


async def flush_counters(redis: aioredis.Redis, keyspace: Keyspace, *, chunk: int = 500) -> int:
    """Copy every pending bucket of the hot counts to PostgreSQL; returns buckets written."""
    snapshot = redis.register_script(_SNAPSHOT)
    clear = redis.register_script(_CLEAR)
    connection = Tortoise.get_connection("default")
    fields = [
        field
        for pending_key in keyspace.bucket_keys("activity_pending")
        async for field, _ in redis.hscan_iter(pending_key, count=chunk)
    ]
    earliest: dict[int, datetime.datetime] = {}
    written = 0
    for field in fields:
        guild_id, hour = split_pending_field(field)
        pending_key = keyspace.key("activity_pending", guild_bucket(guild_id))
        keys = [
            keyspace.key("activity_counts", guild_id, hour),
            keyspace.key("activity_members", guild_id, hour),
            keyspace.key("activity_members_day", guild_id, hour // 24),
            pending_key,
        ]
        raw = await snapshot(keys=keys, args=[field, COUNTS_TTL_SECONDS])
        counter, hour_members, day_members, *pairs = raw
        if counter in (b"", ""):
            continue  # flushed meanwhile
        start = _hour_start(hour)
        periods = ["hour", "day"]
        buckets = [start, _floor_day(start)]
        metrics = [ACTIVE_MEMBERS.name, ACTIVE_MEMBERS.name]
        values = [int(hour_members), int(day_members)]
        for name, value in zip(pairs[::2], pairs[1::2], strict=True):
            periods.append("hour")
            buckets.append(start)
            metrics.append(name.decode() if isinstance(name, bytes) else str(name))
            values.append(int(value))
        await connection.execute_query(_UPSERT_HOT, [guild_id, periods, buckets, metrics, values])
        earliest[guild_id] = min(earliest.get(guild_id, start), start)
        await clear(keys=[pending_key], args=[field, counter])
        written += 1
    for guild_id, since in earliest.items():
        await _sum_days((guild_id,), since)
    return written


async def roll_up_sources(
    sources: Sequence[ActivitySource], *, now: datetime.datetime | None = None
) -> int:
    """Count each durable source again from its mark (less the lookback) to now; returns the
    hour rows written."""
    now = datetime.datetime.now(_UTC) if now is None else now.astimezone(_UTC)
    connection = Tortoise.get_connection("default")
    oldest = _floor_day(now - datetime.timedelta(days=HISTORY_DAYS))
    until = _floor_hour(now) + datetime.timedelta(hours=1)
    written = 0
    for source in sources:
        name = source.metric.name
        marks = await connection.execute_query_dict(_READ_MARK, [name])
        mark = marks[0]["rolled_to"] if marks else oldest
        since = max(oldest, _floor_hour(min(mark, now) - LOOKBACK))
        rows = await connection.execute_query_dict(source.query, [since, until])
        guilds = [int(row["guild_id"]) for row in rows]
        if rows:
            await connection.execute_query(
                _UPSERT_SOURCE,
                [
                    name,
                    guilds,
                    [_floor_hour(row["hour"]) for row in rows],
                    [int(row["n"]) for row in rows],
                ],
            )
            await _sum_days(guilds, since)
        await connection.execute_query(_WRITE_MARK, [name, _floor_hour(now)])
        written += len(rows)
    return written


class DailySeries(typing.NamedTuple):
    """One metric's last days, oldest first, a value for every day (0 when nothing)."""

    metric: Metric
    days: tuple[datetime.date, ...]
    values: tuple[int, ...]


async def daily_series(
    guild_id: int,
    metrics: Sequence[Metric] = METRICS,
    *,
    days: int = HISTORY_DAYS,
    today: datetime.date | None = None,
) -> list[DailySeries]:
    """The day rows of `guild_id` for the `days` days up to `today` (UTC): one indexed read."""
    last = datetime.datetime.now(_UTC).date() if today is None else today
    dates = tuple(last - datetime.timedelta(days=days - 1 - i) for i in range(days))
    start = datetime.datetime.combine(dates[0], datetime.time(), _UTC)
    end = datetime.datetime.combine(last, datetime.time(), _UTC) + datetime.timedelta(days=1)
    connection = Tortoise.get_connection("default")
    rows = await connection.execute_query_dict(_READ_DAYS, [guild_id, start, end])
    found: dict[tuple[str, datetime.date], int] = {
        (row["metric"], row["bucket"].astimezone(_UTC).date()): int(row["value"]) for row in rows
    }
    return [
        DailySeries(metric, dates, tuple(found.get((metric.name, day), 0) for day in dates))
        for metric in metrics
    ]
