"""Moderation: the guarded actions, cases, escalation with decay, automod (docs/moderation.md).

- `domain/`: its configuration section (`config.py`), automod's rules and windows, the ladder,
  cases, enforcement through the kernel's guard (`townsquare.core.guard`);
- `commands/`: `/warn`, `/timeout`, `/untimeout`, `/kick`, `/ban`, `/unban`, `/purge`, `/note`,
  `/case`, `/cases`, `/pardon` (shards);
- `tasks.py`: automod batches, temporary bans ending (workers, scheduler);
- `web/`: `/internal/v1` moderation routes, the dashboard's pages.
"""

from __future__ import annotations

from townsquare.core.activity import MODERATION_ACTIONS, ActivitySource
from townsquare.core.features import Feature
from townsquare.features.moderation.domain.config import (
    UPGRADES,
    ModerationSection,
    anti_nuke_reads_audit_log,
    anti_raid_reads_joins,
    automod_reads_content,
    records_native_automod,
)
from townsquare.features.moderation.domain.jobs import AUTOMOD_ROUTE, MODERATION_SCHEDULES
from townsquare.features.moderation.domain.keys import MODERATION_FAMILIES

__all__ = ["FEATURE"]

FEATURE = Feature(
    name="moderation",
    # Timeouts, kicks, bans, deleting and purging messages, anti-nuke stripping roles, raid
    # mode raising the verification level (Manage Server), the log channel, anti-nuke reading
    # the audit log.
    permissions=(
        "VIEW_CHANNEL",
        "SEND_MESSAGES",
        "EMBED_LINKS",
        "READ_MESSAGE_HISTORY",
        "MANAGE_MESSAGES",
        "MODERATE_MEMBERS",
        "KICK_MEMBERS",
        "BAN_MEMBERS",
        "MANAGE_ROLES",
        "MANAGE_GUILD",
        "VIEW_AUDIT_LOG",
    ),
    models=("townsquare.core.guard.models",),
    key_families=MODERATION_FAMILIES,
    config_sections=(ModerationSection,),
    config_upgrades=UPGRADES,
    reads_message_content=automod_reads_content,
    reads_member_joins=anti_raid_reads_joins,
    reads_automod_executions=records_native_automod,
    reads_audit_log=anti_nuke_reads_audit_log,
    pipelines=("automod", "jobs"),
    routes=(AUTOMOD_ROUTE,),
    schedules=MODERATION_SCHEDULES,
    commands="townsquare.features.moderation.commands",
    tasks="townsquare.features.moderation.tasks",
    web="townsquare.features.moderation.web",
    usage="townsquare.features.moderation.usage",
    activity_sources=(
        ActivitySource(
            MODERATION_ACTIONS,
            "SELECT guild_id, date_trunc('hour', recorded_at, 'UTC') AS hour, count(*) AS n "
            "FROM moderation_cases WHERE recorded_at >= $1 AND recorded_at < $2 "
            "GROUP BY 1, 2",
        ),
    ),
)
