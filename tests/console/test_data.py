"""The console's readings and renderings, without the UI."""

from __future__ import annotations

import datetime
import time
import typing

import pytest

from tests.support.console import write_shard_health
from tests.support.redis_cluster import ON_CLUSTER_TOO
from townsquare.console import formatting as fmt
from townsquare.console.data import (
    SHARD_FIELDS,
    RateMeter,
    ShardHealth,
    Trend,
    parse_time,
    read_alerts,
    read_queues,
    read_shards,
    redis_now,
)
from townsquare.core.alerts import acknowledge_alert, raise_alert
from townsquare.core.features import pipeline_names
from townsquare.shards.health import HEALTH_FIELDS

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

# Every test reading Redis also runs on the cluster (the console's data source).
pytestmark = ON_CLUSTER_TOO

T0 = datetime.datetime(2026, 5, 1, 12, 0, tzinfo=datetime.UTC)


def test_the_pipelines_come_from_the_features() -> None:
    assert pipeline_names() == ("xp", "automod", "ai", "jobs")


def test_the_console_knows_every_field_a_shard_writes() -> None:
    assert SHARD_FIELDS == HEALTH_FIELDS


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1777636800", T0),
        ("1777636800000", T0),
        ("1777636800.0", T0),
        ("2026-05-01T12:00:00+00:00", T0),
        ("2026-05-01T12:00:00", T0),
        ("", None),
        ("soon", None),
        ("nan", None),
    ],
)
def test_times_are_read_as_unix_seconds_milliseconds_or_iso(
    raw: str, expected: datetime.datetime | None
) -> None:
    assert parse_time(raw) == expected


def test_a_rate_needs_two_readings_and_ignores_resets() -> None:
    meter = RateMeter()
    second = datetime.timedelta(seconds=1)
    assert meter.rate("in", 100, T0) is None
    assert meter.rate("in", 150, T0 + 2 * second) == 25.0
    assert meter.rate("in", 10, T0 + 3 * second) is None  # the stream was recreated
    assert meter.rate("in", 20, T0 + 4 * second) == 10.0
    assert meter.rate("out", None, T0) is None


def test_a_trend_keeps_the_newest_values() -> None:
    trend = Trend(size=3)
    for value in range(5):
        trend.push("a", value)
    trend.push("b", 1)
    assert trend.values("a") == [2, 3, 4]
    trend.keep_only({"a"})
    assert trend.values("b") == []


def test_renderings_fit_narrow_columns() -> None:
    assert fmt.sparkline([0, 1, 2, 4]) == "▁▂▄█"
    assert fmt.sparkline([0, 0]) == "▁▁"
    assert fmt.sparkline(range(20), width=5) == "▆▆▇▇█"
    assert [fmt.age(s) for s in (None, 4, 125, 7200, 200_000)] == ["-", "4s", "2m", "2h", "2d"]
    assert [fmt.count(n) for n in (None, 950, 12_345, 4_100_000)] == ["-", "950", "12.3k", "4.1M"]
    assert fmt.until(None, T0) == "never"
    assert fmt.until(T0 + datetime.timedelta(days=3), T0) == "in 3d"
    assert fmt.until(T0 - datetime.timedelta(hours=5), T0) == "5h ago"


def test_a_shard_is_stale_after_ten_seconds_and_unhealthy_when_not_connected() -> None:
    assert ShardHealth(0, {"state": "connected"}, 9.9).healthy
    assert ShardHealth(0, {"state": "connected"}, 10.1).stale
    assert ShardHealth(0, {"state": "resuming"}, 1.0).disconnected
    assert ShardHealth(0, {"latency": "0.25"}, None).latency_ms == 250.0
    assert ShardHealth(0, {"latency_ms": "31"}, None).latency_ms == 31.0
    assert ShardHealth(0, {"latency": "nan"}, None).latency_ms is None


@pytest.mark.integration
async def test_without_a_report_time_the_age_comes_from_the_ttl(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    await write_shard_health(redis, keyspace, 4, updated_at="")
    started = time.monotonic()
    await redis.expire(keyspace.key("shard_health", 4), 11)  # written 4 s ago
    await write_shard_health(redis, keyspace, 12)
    shards = await read_shards(redis, keyspace, datetime.datetime.now(datetime.UTC))
    elapsed = time.monotonic() - started  # a loaded machine may take a while between the calls
    assert [shard.shard_id for shard in shards] == [4, 12]  # numeric order
    assert shards[0].report_age is not None and shards[1].report_age is not None
    assert 4 <= shards[0].report_age <= 4 + elapsed + 0.01
    assert 0 <= shards[1].report_age <= elapsed + 0.01
    assert set(shards[1].fields) == set(HEALTH_FIELDS)  # the helper writes what shards write


@pytest.mark.integration
async def test_queues_that_nobody_touched_read_as_empty(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    queues = await read_queues(redis, keyspace, T0)
    assert [(q.pipeline, q.exists, q.length, q.pending) for q in queues] == [
        (pipeline, False, 0, 0) for pipeline in pipeline_names()
    ]


@pytest.mark.integration
async def test_a_busy_queue_and_its_alerts_are_read(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    stream = keyspace.key("stream", "jobs")
    for number in range(3):
        await redis.xadd(stream, {"n": number})
    await redis.xgroup_create(stream, "workers", id="0")
    await redis.xreadgroup("workers", "w1", {stream: ">"}, count=2)
    await redis.zadd(keyspace.key("retry", "jobs"), {"a": 1.0})
    await redis.xadd(keyspace.key("dead_letter", "jobs"), {"task_name": "x"})
    handled = await raise_alert(redis, keyspace, source="up/worker", message="worker exited")
    await raise_alert(redis, keyspace, source="xp", message="role missing")
    await acknowledge_alert(redis, keyspace, handled)

    [jobs] = await read_queues(redis, keyspace, await redis_now(redis), ["jobs"])
    assert (jobs.exists, jobs.length, jobs.pending, jobs.consumers) == (True, 3, 2, 1)
    assert (jobs.retries, jobs.dead_letters, jobs.lag) == (1, 1, 1)
    assert jobs.oldest_pending_age is not None and jobs.oldest_pending_age >= 0
    alerts = await read_alerts(redis, keyspace)
    assert [(alert.message, alert.acknowledged) for alert in alerts] == [
        ("role missing", False),
        ("worker exited", True),
    ]
