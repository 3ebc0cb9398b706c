"""Moderation tasks: automod batches from the shards, and temporary bans ending.

- `moderation.automod_batch` (`automod` pipeline): a batch of message records with text,
  member joins (anti-raid), Discord's AutoMod actions and audit-log entries (anti-nuke);
- `moderation.expire_bans` (`jobs`): every minute, lifts the temporary bans that are due.

Thin adapters over `townsquare.features.moderation.domain` (docs/moderation.md).
"""

from __future__ import annotations

import collections
import datetime
import typing

import structlog
from taskiq import TaskiqDepends

from townsquare.core.events import (
    AuditLogRecord,
    AutomodExecutionRecord,
    MemberJoinRecord,
    MessageRecord,
    parse_records,
)
from townsquare.features.moderation.domain.antinuke import judge_entries
from townsquare.features.moderation.domain.antiraid import end_quiet_raids, judge_joins
from townsquare.features.moderation.domain.automod import act, judge
from townsquare.features.moderation.domain.checks import within_limits
from townsquare.features.moderation.domain.config import (
    CUSTOM_RULES_LIMIT,
    REGEX_RULES_LIMIT,
    ModerationSection,
)
from townsquare.features.moderation.domain.enforce import context_for, enforce
from townsquare.features.moderation.domain.expiry import due_bans, mark_lifted, unban_request
from townsquare.features.moderation.domain.invites import own_invites
from townsquare.features.moderation.domain.jobs import (
    AUTOMOD_TASK,
    EXPIRE_BANS_TASK,
    POST_LOGS_TASK,
    RAID_WATCH_TASK,
    RETRY_PENDING_TASK,
)
from townsquare.features.moderation.domain.logs import guilds_with_pending_logs, post_pending_logs
from townsquare.features.moderation.domain.native import record_native
from townsquare.features.moderation.domain.retry import retry_pending
from townsquare.features.moderation.domain.rules import Message

if typing.TYPE_CHECKING:
    from townsquare.core.guard.guard import GuardContext
from townsquare.tasks.errors import PermanentJobError
from townsquare.tasks.registry import REGISTRY

# Needed at run time: taskiq resolves the annotation to inject the worker's resources.
from townsquare.tasks.resources import TaskResources

__all__ = ["automod_batch", "expire_bans", "post_logs", "raid_watch", "retry_pending_cases"]

_Resources = typing.Annotated[TaskResources, TaskiqDepends()]

logger = structlog.get_logger(__name__)


def _message(record: MessageRecord) -> Message:
    return Message(
        guild_id=record.guild_id,
        channel_id=record.channel_id,
        author_id=record.author_id,
        message_id=record.message_id,
        timestamp_ms=record.timestamp_ms,
        role_ids=frozenset(record.role_ids),
        content=record.content or "",
        mention_count=record.mention_count,
    )


@REGISTRY.task("automod", AUTOMOD_TASK)
async def automod_batch(records: list[dict[str, typing.Any]], resources: _Resources) -> int:
    """Judge and act on a batch of messages; returns the messages deleted."""
    try:
        parsed = parse_records(records)
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        raise PermanentJobError(f"unreadable automod batch: {error}") from error
    by_guild: dict[int, list[Message]] = collections.defaultdict(list)
    others: dict[type, dict[int, list[typing.Any]]] = collections.defaultdict(
        lambda: collections.defaultdict(list)
    )
    for record in parsed:
        if isinstance(record, MessageRecord):
            by_guild[record.guild_id].append(_message(record))
        elif isinstance(record, (MemberJoinRecord, AutomodExecutionRecord, AuditLogRecord)):
            others[type(record)][record.guild_id].append(record)
    # A nuke first (the most urgent), then Discord's AutoMod, then joins (anti-raid).
    steps = ((AuditLogRecord, judge_entries), (AutomodExecutionRecord, record_native))
    for kind, step in (*steps, (MemberJoinRecord, judge_joins)):
        for guild_id, found in others[kind].items():
            section = (await resources.guild_config(guild_id)).section(ModerationSection)
            context = context_for(
                await resources.discord_rest(), resources.redis, resources.keyspace, section
            )
            await step(context, section, found)
    deleted = 0
    for guild_id, messages in by_guild.items():
        section = (await resources.guild_config(guild_id)).section(ModerationSection)
        if not section.automod.enabled:
            continue
        gate = resources.gate
        custom = await gate.value(guild_id, CUSTOM_RULES_LIMIT)
        regex = await gate.value(guild_id, REGEX_RULES_LIMIT)
        allowed = within_limits(
            section.automod.custom_rules,
            custom=None if custom is None else int(custom),
            regex=None if regex is None else int(regex),
        )
        own = frozenset[str]()
        if section.automod.rules.invites.enabled:
            own = await own_invites(
                resources.redis,
                resources.keyspace,
                guild_id,
                (m.content for m in messages),
                resources.discord_rest,
            )
        judged = await judge(
            resources.redis,
            resources.keyspace,
            section.automod,
            messages,
            own_invites=own,
            custom_rules=allowed,
        )
        if not judged:  # the usual batch: nothing to do, no Discord, no PostgreSQL
            continue
        rest = await resources.discord_rest()
        context = context_for(rest, resources.redis, resources.keyspace, section, log_inline=False)
        outcomes = await act(context, section, judged)
        deleted += outcomes.deleted
        await post_pending_logs(rest, guild_id, section.log_channel_id)
    return deleted


@REGISTRY.task("jobs", EXPIRE_BANS_TASK)
async def expire_bans(resources: _Resources) -> int:
    """Lift every temporary ban that is due (each through the guard); returns how many."""
    lifted = 0
    for case in await due_bans(datetime.datetime.now(datetime.UTC)):
        section = (await resources.guild_config(case.guild_id)).section(ModerationSection)
        context = context_for(
            await resources.discord_rest(), resources.redis, resources.keyspace, section
        )
        enforced = await enforce(unban_request(case), context, section)
        # Lifted whatever the outcome: the unban's own case says whether it was done (a
        # blocked or refused unban is not retried every minute; a moderator can /unban).
        await mark_lifted(case)
        lifted += enforced.outcome.done
        if not enforced.outcome.done:
            logger.warning("moderation.unban_not_done", guild_id=case.guild_id, case=case.number)
    return lifted


@REGISTRY.task("jobs", POST_LOGS_TASK)
async def post_logs(resources: _Resources) -> int:
    """Post every guild's cases still missing from its log channel (a safety net)."""
    posted = 0
    for guild_id in await guilds_with_pending_logs():
        section = (await resources.guild_config(guild_id)).section(ModerationSection)
        rest = await resources.discord_rest()
        posted += await post_pending_logs(rest, guild_id, section.log_channel_id)
    return posted


@REGISTRY.task("jobs", RAID_WATCH_TASK)
async def raid_watch(resources: _Resources, now_ms: int | None = None) -> int:
    """End raid modes that have been quiet long enough (every minute); returns how many.
    `now_ms` defaults to the Redis server's clock."""
    redis = resources.redis
    if now_ms is None:
        seconds, micros = await redis.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000

    async def section_of(guild_id: int) -> ModerationSection:
        return (await resources.guild_config(guild_id)).section(ModerationSection)

    ended = await end_quiet_raids(
        redis, resources.keyspace, now_ms, section_of, await resources.discord_rest()
    )
    return len(ended)


@REGISTRY.task("jobs", RETRY_PENDING_TASK)
async def retry_pending_cases(resources: _Resources) -> int:
    """Carry out the cases whose Discord action never completed (every minute); returns how
    many were finished."""

    async def context_of(guild_id: int) -> tuple[GuardContext, ModerationSection]:
        section = (await resources.guild_config(guild_id)).section(ModerationSection)
        rest = await resources.discord_rest()
        return context_for(rest, resources.redis, resources.keyspace, section), section

    swept = await retry_pending(datetime.datetime.now(datetime.UTC), context_of)
    if swept.still_pending or swept.gave_up:
        logger.warning(
            "moderation.pending_cases", still_pending=swept.still_pending, gave_up=swept.gave_up
        )
    return swept.done
