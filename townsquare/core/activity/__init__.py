"""Activity rollups: what happened in each guild, per hour and per day, for the dashboard's
overview (docs/dashboard.md, "Overview").

Two kinds of sources feed them, and neither is read when a page is shown:

- hot counts, kept in Redis by the pipelines as they work (`counters`): the XP award script
  counts messages, XP and the members who posted in the same atomic call that marks each
  message as seen, so a redelivered batch counts nothing twice;
- durable rows that features already write to PostgreSQL (moderation cases, giveaway entries,
  live-alert cards ...), declared by each feature as an :class:`ActivitySource` (a query
  counting rows per guild and hour).

The scheduler's `activity.roll_up` job (`townsquare.tasks.activity`) writes both into
`activity_rollups` as absolute values (`rollup`): running it twice, or again after a kill,
writes the same numbers.
"""

from __future__ import annotations

from townsquare.core.activity.counters import (
    ACTIVITY_LUA,
    ActivityKeys,
    activity_keys,
    record_activity,
)
from townsquare.core.activity.metrics import (
    ACTIVE_MEMBERS,
    ASSISTANT_QUESTIONS,
    GIVEAWAY_ENTRIES,
    LIVE_ALERTS,
    MEMBER_JOINS,
    MEMBER_LEAVES,
    MESSAGES,
    METRICS,
    MODERATION_ACTIONS,
    XP_AWARDED,
    ActivitySource,
    Metric,
)

__all__ = [
    "ACTIVE_MEMBERS",
    "ACTIVITY_LUA",
    "ASSISTANT_QUESTIONS",
    "GIVEAWAY_ENTRIES",
    "LIVE_ALERTS",
    "MEMBER_JOINS",
    "MEMBER_LEAVES",
    "MESSAGES",
    "METRICS",
    "MODERATION_ACTIONS",
    "XP_AWARDED",
    "ActivityKeys",
    "ActivitySource",
    "Metric",
    "activity_keys",
    "record_activity",
]
