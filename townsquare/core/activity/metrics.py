"""The activity metrics the overview knows, and how a feature declares a durable source."""

from __future__ import annotations

import dataclasses
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "ACTIVE_MEMBERS",
    "ASSISTANT_QUESTIONS",
    "CHARTS",
    "GIVEAWAY_ENTRIES",
    "JOINS_AND_LEAVES",
    "LIVE_ALERTS",
    "MEMBER_JOINS",
    "MEMBER_LEAVES",
    "MESSAGES",
    "METRICS",
    "MODERATION_ACTIONS",
    "XP_AWARDED",
    "ActivitySource",
    "Chart",
    "Metric",
    "charts_of",
]


@dataclasses.dataclass(frozen=True, slots=True)
class Metric:
    """One chart of the overview."""

    name: str
    """Stored in `activity_rollups.metric` and used as a Redis hash field: a short word."""
    title: str
    """The chart's heading."""
    unit: str
    """What one counts, in words ("messages"), for the text alternative."""
    additive: bool = True
    """Whether a day is the sum of its hours (not for distinct members)."""


MESSAGES: typing.Final = Metric("messages", "Messages", "messages")
ACTIVE_MEMBERS: typing.Final = Metric(
    "active_members", "Active members", "members who posted", additive=False
)
XP_AWARDED: typing.Final = Metric("xp", "XP awarded", "XP")
MEMBER_JOINS: typing.Final = Metric("member_joins", "Joins", "joins")
MEMBER_LEAVES: typing.Final = Metric("member_leaves", "Leaves", "leaves")
MODERATION_ACTIONS: typing.Final = Metric(
    "moderation_actions", "Moderation actions", "moderation cases"
)
GIVEAWAY_ENTRIES: typing.Final = Metric("giveaway_entries", "Giveaway entries", "entries")
LIVE_ALERTS: typing.Final = Metric("live_alerts", "Live alerts", "live alerts posted")
ASSISTANT_QUESTIONS: typing.Final = Metric(
    "assistant_questions", "Assistant questions", "questions"
)

METRICS: typing.Final[tuple[Metric, ...]] = (
    MESSAGES,
    ACTIVE_MEMBERS,
    XP_AWARDED,
    MEMBER_JOINS,
    MEMBER_LEAVES,
    MODERATION_ACTIONS,
    GIVEAWAY_ENTRIES,
    LIVE_ALERTS,
    ASSISTANT_QUESTIONS,
)
"""Every metric, in the order the overview shows them."""


@dataclasses.dataclass(frozen=True, slots=True)
class Chart:
    """One chart of the overview: one metric, or several drawn side by side (joins and
    leaves), each a series of bars with its own colour."""

    name: str
    """Unique among the charts: the page's ids derive from it."""
    title: str
    metrics: tuple[Metric, ...]


JOINS_AND_LEAVES: typing.Final = Chart(
    "joins_and_leaves", "Joins and leaves", (MEMBER_JOINS, MEMBER_LEAVES)
)
CHARTS: typing.Final[tuple[Chart, ...]] = (JOINS_AND_LEAVES,)
"""The charts of more than one metric; every other metric has a chart of its own."""


def charts_of(metrics: Iterable[Metric]) -> list[Chart]:
    """The overview's charts of `metrics`, in :data:`METRICS` order: a metric of a shared
    chart (:data:`CHARTS`) brings that chart, at the place of its first metric, with the
    shared chart's metrics among `metrics`; any other metric is a chart of its own."""
    wanted = {metric.name for metric in metrics}
    charts: list[Chart] = []
    for metric in METRICS:
        if metric.name not in wanted:
            continue
        shared = next((chart for chart in CHARTS if metric in chart.metrics), None)
        if shared is None:
            charts.append(Chart(metric.name, metric.title, (metric,)))
        elif all(chart.name != shared.name for chart in charts):
            kept = tuple(m for m in shared.metrics if m.name in wanted)
            charts.append(Chart(shared.name, shared.title, kept))
    return charts


@dataclasses.dataclass(frozen=True, slots=True)
class ActivitySource:
    """A metric a feature counts from rows it already keeps in PostgreSQL.

    `query` takes `$1` and `$2` (timestamptz: the start, inclusive, and the end, exclusive,
    of the hours to count) and returns rows `(guild_id bigint, hour timestamptz, n bigint)`,
    `hour` being `date_trunc('hour', <the row's time>)`. Give the time column an index: the
    rollup runs it every minute over the last hours.
    """

    metric: Metric
    query: str
