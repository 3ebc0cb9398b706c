"""The activity metrics the overview knows, and how a feature declares a durable source."""

from __future__ import annotations

import dataclasses
import typing

__all__ = [
    "ACTIVE_MEMBERS",
    "ASSISTANT_QUESTIONS",
    "GIVEAWAY_ENTRIES",
    "LIVE_ALERTS",
    "MEMBER_JOINS",
    "MESSAGES",
    "METRICS",
    "MODERATION_ACTIONS",
    "XP_AWARDED",
    "ActivitySource",
    "Metric",
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
MEMBER_JOINS: typing.Final = Metric("member_joins", "Members joining", "joins")
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
    MODERATION_ACTIONS,
    GIVEAWAY_ENTRIES,
    LIVE_ALERTS,
    ASSISTANT_QUESTIONS,
)
"""Every metric, in the order the overview shows them."""


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
