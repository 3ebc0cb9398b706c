"""The dashboard's Overview of a guild: the first page after picking a server
(docs/dashboard.md, "Overview").

- Activity over the last 30 days, one chart per metric the enabled features count
  (`Feature.activity_metrics` and `Feature.activity_sources`; joins and leaves share one,
  `core.activity.metrics.CHARTS`), read from the daily rollups
  (`townsquare.core.activity`) in one indexed query, never from raw rows; drawn as SVG on the
  server (`townsquare.http.charts`), each with a one-sentence summary and a table of its days.
- Health at a glance: what the bot lacks here (the Health page's check, asked of Discord), the
  open guild alerts, the premium tier and what the guild uses of its limits.
"""

from __future__ import annotations

import typing

from markupsafe import Markup
from quart import g, render_template
from quart_schema import hide

from townsquare.core.activity.metrics import JOINS_AND_LEAVES, METRICS, charts_of
from townsquare.core.activity.rollup import HISTORY_DAYS, daily_series
from townsquare.core.alerts import open_alerts
from townsquare.core.features import enabled_features, needs_member_joins
from townsquare.core.premium import LIMITS, LimitKind, guild_usage, premium_page_path
from townsquare.http.access import managed_guild
from townsquare.http.blueprints import dashboard_blueprint
from townsquare.http.charts import BarChart, Series, bar_chart, summary
from townsquare.http.config_forms import GuildLink
from townsquare.http.guild_health import check_guild
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from townsquare.core.activity.metrics import Chart, Metric
    from townsquare.core.activity.rollup import DailySeries
    from townsquare.http.access import Session

__all__ = ["LINK", "blueprint", "shown_metrics"]

blueprint = dashboard_blueprint(
    "overview", __name__, url_prefix="/dashboard/guilds/<id:guild_id>/overview"
)
LINK: typing.Final = GuildLink("overview", "Overview", "overview.show")


def shown_metrics() -> list[Metric]:
    """The metrics the enabled features count, in the overview's order."""
    counted = {
        metric.name
        for feature in enabled_features()
        for metric in (
            *feature.activity_metrics,
            *(source.metric for source in feature.activity_sources),
        )
    }
    return [metric for metric in METRICS if metric.name in counted]


async def _premium(guild_id: int) -> dict[str, typing.Any]:
    app_state = state()
    gate = app_state.require_gate()
    tier = await gate.tier(guild_id)
    usage = await guild_usage(
        guild_id, redis=app_state.require_redis(), keyspace=app_state.keyspace
    )
    lines = []
    for name, used in usage.items():
        limit = LIMITS[name]
        if limit.kind is not LimitKind.COUNT:
            continue
        value = gate.catalogue.value(tier, name)
        of = "no limit" if value is None else f"{value:,}"
        lines.append(
            {
                "name": name,
                "text": f"{used:,} of {of} {limit.unit}",
                "over": (isinstance(value, int) and not isinstance(value, bool) and used > value),
            }
        )
    return {"tier": tier.name, "limits": lines, "page": premium_page_path(guild_id)}


def _chart(chart: Chart, series: list[DailySeries]) -> dict[str, typing.Any]:
    """One chart's SVG, summary, table and note, from its metrics' days."""
    first, *more = series
    drawn = BarChart(
        f"chart-{chart.name}",
        chart.title,
        first.metric.unit,
        first.days,
        first.values,
        name=first.metric.title,
        more=[Series(s.metric.title, s.metric.unit, s.values) for s in more],
    )
    note = ""
    if chart.name == JOINS_AND_LEAVES.name and not needs_member_joins(state().settings):
        note = (
            "Not counted now: the bot does not ask Discord for the Server Members intent "
            "(the setting discord.server_members_intent)."
        )
    return {
        "name": chart.name,
        "title": chart.title,
        "columns": [s.metric.title for s in series],
        "unit": " and ".join(s.metric.unit for s in series),
        "svg": Markup(bar_chart(drawn)),  # noqa: S704 - built from escaped text
        "summary": summary(drawn),
        "note": note,
        "rows": list(zip(first.days, *(s.values for s in series), strict=True)),
    }


@blueprint.get("")
@hide
async def show(guild_id: int) -> str:
    session: Session = g.ts_session
    guild = await managed_guild(session, guild_id)
    app_state = state()
    metrics = shown_metrics()
    found = {s.metric.name: s for s in await daily_series(guild_id, metrics, days=HISTORY_DAYS)}
    charts = [_chart(chart, [found[m.name] for m in chart.metrics]) for chart in charts_of(metrics)]
    health, health_error = await check_guild(guild_id)
    alerts = await open_alerts(app_state.require_redis(), app_state.keyspace, guild_id)
    return await render_template(
        "overview.html",
        user=session,
        guild_id=guild_id,
        guild_name=guild.name if guild else str(guild_id),
        charts=charts,
        days=HISTORY_DAYS,
        health=health,
        health_error=health_error,
        alerts=alerts,
        premium=await _premium(guild_id),
    )
