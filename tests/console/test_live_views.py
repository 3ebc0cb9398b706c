"""The read-only screens against real Redis and PostgreSQL: shards, queues, alerts, premium."""

from __future__ import annotations

import datetime
import time
import typing

import pytest
from rich.text import Text
from textual.widgets import DataTable, Static, TabbedContent

from tests.support.console import (
    cells,
    column,
    open_table,
    pending_stream,
    tab_key,
    until,
    write_shard_health,
)
from tests.support.redis_cluster import ON_CLUSTER_TOO
from townsquare.console import ConsoleApp
from townsquare.console.panes import AlertsPane, QueuesPane, ShardsPane
from townsquare.core.alerts import raise_alert
from townsquare.core.guilds.models import Guild
from townsquare.features.premium.console import PremiumPane
from townsquare.features.premium.domain.models import (
    PremiumSource,
    PremiumSubscription,
    PremiumTier,
)

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("orm")]

REFRESH = 0.1


def _app(redis_url: str, database_url: str, keyspace: Keyspace) -> ConsoleApp:
    return ConsoleApp(redis_url, database_url, keyspace, refresh_seconds=REFRESH)


# The app, not only its data source (tests/console/test_data.py), reads a cluster: its shard
# keys (no hash tag) are found by a SCAN of every master and read by one pipeline.
@ON_CLUSTER_TOO
async def test_shards_show_each_shard_and_a_stale_one_stands_out(
    redis_url: str, database_url: str, keyspace: Keyspace, redis: aioredis.Redis
) -> None:
    written = time.monotonic()
    await write_shard_health(redis, keyspace, 0, guilds=1200, events_per_second=12.5)
    await write_shard_health(redis, keyspace, 1, reported_ago=12.0, resumes=3)
    await write_shard_health(redis, keyspace, 2, state="connecting", latency_ms="")
    app = _app(redis_url, database_url, keyspace)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(ShardsPane).query_one(DataTable)
        await until(pilot, lambda: table.row_count == 3, what="three shards")
        rows = cells(table)
        assert [row[0] for row in rows] == ["0", "1", "2"]
        assert rows[0][column(table, "Guilds")] == "1200"
        assert rows[0][column(table, "Ev/s")] == "12.5"
        assert rows[0][column(table, "Ping")] == "42"
        assert rows[1][column(table, "Res")] == "3"
        assert rows[2][column(table, "Ping")] == "-"

        state = column(table, "State")
        healthy, stale, disconnected = (table.get_row_at(row)[state] for row in range(3))
        assert isinstance(stale, Text) and "STALE" in stale.plain and "red" in str(stale.style)
        assert isinstance(healthy, Text) and "STALE" not in healthy.plain and not healthy.style
        assert isinstance(disconnected, Text) and "yellow" in str(disconnected.style)
        # 12 s old when written, plus however long the test has run since (a busy machine).
        report = table.get_row_at(1)[column(table, "Report")].plain
        aged = 12 + int(time.monotonic() - written)
        assert report.endswith("s!") and 12 <= int(report[:-2]) <= aged + 1, report

        summary = app.query_one("#shards-summary", Static)
        assert "2 stale or disconnected" in str(summary.render())
        # The trend of a shard's events/s fills as readings come in.
        await until(
            pilot,
            lambda: len(cells(table)[0][column(table, "Trend")]) >= 3,
            what="a sparkline",
        )
        assert "session_id session-0" in str(app.query_one("#shards-detail", Static).render())


async def test_queues_show_backlog_pending_consumers_retries_dead_letters_and_throughput(
    redis_url: str, database_url: str, keyspace: Keyspace, redis: aioredis.Redis
) -> None:
    await pending_stream(redis, keyspace, "jobs", queued=5, delivered=3)
    await pending_stream(redis, keyspace, "xp", queued=2, delivered=0)
    await redis.zadd(keyspace.key("retry", "jobs"), {'{"task_name": "x"}': 1.0})
    await redis.xadd(keyspace.key("dead_letter", "jobs"), {"task_name": "x", "error": "E"})
    app = _app(redis_url, database_url, keyspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        assert app.query_one(TabbedContent).active == "queues"
        table = app.query_one(QueuesPane).query_one(DataTable)
        await until(pilot, lambda: table.row_count == 4, what="four pipelines")
        rows = {row[0]: row for row in cells(table)}
        assert set(rows) == {"xp", "automod", "ai", "jobs"}
        jobs = rows["jobs"]
        assert jobs[column(table, "Len")] == "5"
        assert jobs[column(table, "Pend")] == "3"
        assert jobs[column(table, "Cons")] == "1"
        assert jobs[column(table, "Oldest")].endswith("s")
        assert jobs[column(table, "Retry")] == "1"
        assert jobs[column(table, "Dead")] == "1"
        assert rows["xp"][column(table, "Pend")] == "0"
        assert rows["automod"][column(table, "Cons")] == "-"  # no stream yet

        # Throughput: messages added and delivered between two readings show as rates.
        stream = keyspace.key("stream", "jobs")
        for index in range(20):
            await redis.xadd(stream, {"data": f"{index}"})
        await redis.xreadgroup("workers", "worker-b", {stream: ">"}, count=10)

        def moving() -> bool:
            row = {r[0]: r for r in cells(table)}["jobs"]
            return row[column(table, "In/s")] not in {"-", "0.0"} and row[
                column(table, "Out/s")
            ] not in {"-", "0.0"}

        await until(pilot, moving, what="non-zero throughput")
        await until(
            pilot,
            lambda: any(
                bar != "▁"
                for bar in {r[0]: r for r in cells(table)}["jobs"][column(table, "Trend")]
            ),
            what="a throughput sparkline",
        )
        assert "dead letters 1" in str(app.query_one("#queues-summary", Static).render())


async def test_alerts_show_the_newest_first(
    redis_url: str, database_url: str, keyspace: Keyspace, redis: aioredis.Redis
) -> None:
    await raise_alert(redis, keyspace, source="shards", message="shard 3 is zombied")
    await raise_alert(
        redis, keyspace, source="tasks", message="jobs backlog over 1000", level="warning"
    )
    app = _app(redis_url, database_url, keyspace)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_table(
            pilot, tab_key(pilot, "alerts"), AlertsPane, rows=2, what="two alerts"
        )
        rows = cells(table)
        assert rows[0][1:] == ["warning", "tasks", "jobs backlog over 1000", ""]
        assert rows[1][1:] == ["error", "shards", "shard 3 is zombied", ""]
        assert "1 errors" in str(app.query_one("#alerts-summary", Static).render())
        # `a` acknowledges the highlighted alert (the newest): no longer open.
        await pilot.press("a")
        await until(pilot, lambda: cells(table)[0][-1] == "yes", what="acknowledged")
        assert "2 newest alerts shown, 1 open" in str(
            app.query_one("#alerts-summary", Static).render()
        )
        assert cells(table)[1][-1] == ""


async def test_premium_shows_guilds_by_tier_expiring_and_expired(
    redis_url: str, database_url: str, keyspace: Keyspace
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    day = datetime.timedelta(days=1)
    for guild_id, name in [(101, "Lasting"), (102, "Soon"), (103, "Gone"), (104, "Forever")]:
        await Guild.create(id=guild_id, name=name)
    for guild_id, tier, expires in [
        (101, PremiumTier.PLUS, now + 40 * day),
        (102, PremiumTier.PRO, now + 2 * day),
        (103, PremiumTier.PLUS, now - 3 * day),
        (104, PremiumTier.PRO, None),
    ]:
        await PremiumSubscription.create(
            guild_id=guild_id,
            tier=tier,
            source=PremiumSource.MANUAL,
            starts_at=now - 60 * day,
            expires_at=expires,
        )
    app = _app(redis_url, database_url, keyspace)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_table(
            pilot, tab_key(pilot, "premium"), PremiumPane, rows=4, what="four guilds"
        )
        rows = cells(table)
        # Best tier first, then the soonest end; expired guilds last.
        assert [row[0] for row in rows] == ["102", "104", "101", "103"]
        assert rows[0][column(table, "Left")] in {"in 2d", "in 1d"}
        assert rows[0][column(table, "Name")] == "Soon"
        assert rows[1][column(table, "Left")] == "never"
        assert rows[3][column(table, "Left")] == "3d ago"
        soon = table.get_row_at(0)[column(table, "Left")]
        assert isinstance(soon, Text) and "yellow" in str(soon.style)
        expired = table.get_row_at(3)[column(table, "Left")]
        assert isinstance(expired, Text) and "red" in str(expired.style)
        summary = str(app.query_one("#premium-summary", Static).render())
        assert "plus 1  pro 2" in summary
        assert "expiring in 7 d 1" in summary
        assert "expired (30 d) 1" in summary


async def test_an_unreachable_redis_is_reported_and_premium_still_shows(
    database_url: str, keyspace: Keyspace
) -> None:
    await Guild.create(id=101, name="Harbour")
    await PremiumSubscription.create(
        guild_id=101,
        tier=PremiumTier.PLUS,
        source=PremiumSource.MANUAL,
        starts_at=datetime.datetime.now(datetime.UTC),
        expires_at=None,
    )
    app = _app("redis://127.0.0.1:1/0", database_url, keyspace)  # nothing listens on port 1
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.readings >= 2, what="two readings")
        assert "Redis unreachable" in app.sub_title
        await open_table(
            pilot, tab_key(pilot, "premium"), PremiumPane, rows=1, what="premium from PostgreSQL"
        )
        await pilot.press("1")
        assert app.query_one(ShardsPane).query_one(DataTable).row_count == 0
