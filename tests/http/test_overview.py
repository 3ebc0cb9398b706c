"""The dashboard's Overview: the first guild page, its charts drawn from the rollups (the SVG
and its table checked), and health at a glance (permissions, open alerts, premium)."""

from __future__ import annotations

import datetime
import re
import time
import typing

from townsquare.core.activity.counters import record_activity
from townsquare.core.activity.rollup import flush_counters
from townsquare.core.alerts import raise_alert
from townsquare.http.charts import BarChart, Series, bar_chart, summary

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis
    from quart.testing import QuartClient

    from townsquare.core.keyspace import Keyspace


def test_a_bar_chart_scales_its_bars_and_says_what_it_shows() -> None:
    days = [datetime.date(2026, 11, 1) + datetime.timedelta(days=i) for i in range(3)]
    svg = bar_chart(BarChart("c", "Messages <all>", "messages", days, [5, 0, 10]))
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', svg)]
    assert heights[0] * 2 == heights[2] and heights[1] == 0
    assert 'role="img"' in svg and "Messages &lt;all&gt;" in svg and "<all>" not in svg
    assert "15 messages in the last 3 days; the most on Nov 3 (10); 10 on Nov 3." in svg


def test_a_chart_of_two_series_draws_each_days_bars_side_by_side_with_a_legend() -> None:
    days = [datetime.date(2026, 11, 1) + datetime.timedelta(days=i) for i in range(2)]
    more = [Series("Leaves", "leaves", [2, 1])]
    chart = BarChart("c", "Joins and leaves", "joins", days, [4, 0], name="Joins", more=more)
    svg = bar_chart(chart)
    bars = re.findall(r'<rect x="([\d.]+)"[^>]*height="([\d.]+)"[^>]*data-series="(\w+)"', svg)
    # Joins' two days, then leaves' two days; the highest value (4) takes the plot's height.
    assert [(series, float(h)) for _, h, series in bars] == [
        ("Joins", 140.0),
        ("Joins", 0.0),
        ("Leaves", 70.0),
        ("Leaves", 35.0),
    ]
    x = [float(left) for left, _, _ in bars]
    assert x[0] < x[2] < x[1] < x[3]  # each day's join bar, then its leave bar
    assert '<g class="legend">' in svg and ">Leaves</text>" in svg
    assert summary(chart) == (
        "4 joins in the last 2 days; the most on Nov 1 (4); 0 on Nov 2. "
        "3 leaves in the last 2 days; the most on Nov 1 (2); 1 on Nov 2."
    )


async def test_the_overview_charts_the_rollups_and_sums_up_the_guilds_health(
    sheriff: QuartClient, bot_in_demo: int, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    now = int(time.time() * 1000)
    counts = {"messages": 7, "xp": 120, "member_joins": 3, "member_leaves": 1}
    await record_activity(redis, keyspace, bot_in_demo, now, counts=counts, members=(1, 2))
    assert await flush_counters(redis, keyspace) == 1
    await raise_alert(
        redis, keyspace, source="xp.apply_level", guild_id=bot_in_demo, message="role 42 is above"
    )

    picker = await (await sheriff.get("/dashboard")).get_data(as_text=True)
    links = re.findall(r'href="(/dashboard/guilds/\d+/[^"]+)"', picker)
    assert links[0] == f"/dashboard/guilds/{bot_in_demo}/overview"  # the first guild page

    reply = await sheriff.get(links[0])
    assert reply.status_code == 200
    page = await reply.get_data(as_text=True)
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    charts = set(re.findall(r'<svg [^>]*id="chart-([a-z_]+)"', page))
    assert set(charts) >= {"messages", "active_members", "xp", "moderation_actions"}
    messages = page.split('id="chart-messages"')[1].split("</svg>")[0]
    assert len(re.findall(r"<rect ", messages)) == 30
    assert f'data-day="{today}" data-value="7"' in messages
    assert "7 messages in the last 30 days" in page
    assert f'<th scope="row">{today}</th><td>7</td>' in page
    xp = page.split('id="table-xp"')[1].split("</table>")[0]
    assert f'<th scope="row">{today}</th><td>120</td>' in xp
    active = page.split('id="chart-active_members"')[1].split("</svg>")[0]
    assert f'data-day="{today}" data-value="2"' in active
    members = page.split('id="figure-joins_and_leaves"')[1].split("</figure>")[0]
    assert "<h4>Joins and leaves</h4>" in members
    assert len(re.findall(r"<rect [^>]*data-day=", members)) == 60  # two series of 30 days
    assert f'data-day="{today}" data-value="3" data-series="Joins"' in members
    assert f'data-day="{today}" data-value="1" data-series="Leaves"' in members
    assert "3 joins in the last 30 days" in members and "1 leaves in the last 30 days" in members
    assert '<th scope="col">Joins</th><th scope="col">Leaves</th>' in members
    assert f'<th scope="row">{today}</th><td>3</td><td>1</td>' in members
    # The test's settings do not say the application has the Server Members intent.
    assert "Not counted now" in members

    health = page.split('id="overview-health"')[1].split("</section>")[0]
    assert "Open alerts: 1, the newest: role 42 is above" in health
    assert "Premium tier: <strong>" in health
    assert "Permissions:" in health
