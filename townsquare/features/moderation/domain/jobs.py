"""The moderation feature's work on the pipelines: task names, the shards' route, schedules.

Task names are part of the wire format (they travel in every queued message and in dead
letters): renaming one strands messages already queued under the old name.
"""

from __future__ import annotations

import typing

from townsquare.core.events.routes import Route
from townsquare.core.features import Schedule

__all__ = [
    "AUTOMOD_ROUTE",
    "AUTOMOD_TASK",
    "EXPIRE_BANS_TASK",
    "MODERATION_SCHEDULES",
    "POST_LOGS_TASK",
    "RAID_WATCH_TASK",
    "RETRY_PENDING_TASK",
]

AUTOMOD_TASK: typing.Final = "moderation.automod_batch"
EXPIRE_BANS_TASK: typing.Final = "moderation.expire_bans"
POST_LOGS_TASK: typing.Final = "moderation.post_logs"
RAID_WATCH_TASK: typing.Final = "moderation.raid_watch"
RETRY_PENDING_TASK: typing.Final = "moderation.retry_pending"

AUTOMOD_ROUTE: typing.Final = Route(
    "automod",
    AUTOMOD_TASK,
    frozenset({"message", "member_join", "automod_execution", "audit_log_entry"}),
    with_content=True,
)
"""Every member's message, with its text (the only stream besides the AI's that has it), and
members joining (anti-raid; only with the GUILD_MEMBERS intent), and Discord's own AutoMod
acting (only with `record_native`), and audit-log entries (anti-nuke; only with the
GUILD_MODERATION intent)."""

MODERATION_SCHEDULES: typing.Final = (
    Schedule("moderation-expire-bans", EXPIRE_BANS_TASK, cron="* * * * *"),
    Schedule("moderation-post-logs", POST_LOGS_TASK, cron="* * * * *"),
    Schedule("moderation-raid-watch", RAID_WATCH_TASK, cron="* * * * *"),
    Schedule("moderation-retry-pending", RETRY_PENDING_TASK, cron="* * * * *"),
)
"""Temporary bans end within a minute of their time, after any restart (the truth is the
cases in PostgreSQL)."""
