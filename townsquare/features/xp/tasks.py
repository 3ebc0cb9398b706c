"""XP tasks: award message batches, voice ticks, level rewards and notices, the flush.

Thin adapters over `townsquare.features.xp.domain` (docs/xp.md describes the rules):

- `xp.process_batch` (`xp` pipeline): a batch of records from the shards;
- `xp.voice_tick` (`xp`): one minute of voice XP, fired every minute by the scheduler;
- `xp.flush` (`jobs`): hot totals to PostgreSQL, fired on an interval by the scheduler;
- `xp.apply_level` (`jobs`): reward roles through Discord REST, then the level-up notice.
"""

from __future__ import annotations

import collections
import typing

import hikari
import structlog
from taskiq import TaskiqDepends

from townsquare.core.alerts import raise_alert
from townsquare.core.events import GuildRecord, MessageRecord, VoiceStateRecord, parse_records
from townsquare.features.xp.domain.award import award_messages
from townsquare.features.xp.domain.curve import curve_for
from townsquare.features.xp.domain.flush import flush_xp
from townsquare.features.xp.domain.jobs import (
    APPLY_LEVEL_TASK,
    FLUSH_INTERVAL_SECONDS,
    FLUSH_TASK,
    PROCESS_BATCH_TASK,
    VOICE_TICK_TASK,
    xp_schedules,
)
from townsquare.features.xp.domain.levels import (
    applied_level,
    plan_rewards,
    render_notice,
    sync_levels,
)
from townsquare.features.xp.domain.models import LevelReward
from townsquare.features.xp.domain.voice import (
    apply_guild_record,
    apply_voice_records,
    award_voice_minute,
    eligible_members,
    read_voice_states,
)
from townsquare.tasks.errors import PermanentJobError
from townsquare.tasks.idempotency import run_once
from townsquare.tasks.registry import REGISTRY

# Needed at run time: taskiq resolves the annotation to inject the worker's resources.
from townsquare.tasks.resources import TaskResources
from townsquare.tasks.schedule_sources import install_schedules

if typing.TYPE_CHECKING:
    from townsquare.core.config.schemas import GuildConfig
    from townsquare.features.xp.domain.curve import Curve
    from townsquare.tasks.schedule_sources import JsonListScheduleSource

__all__ = [
    "FLUSH_INTERVAL_SECONDS",
    "FLUSH_TASK",
    "PROCESS_BATCH_TASK",
    "VOICE_TICK_TASK",
    "apply_level",
    "flush",
    "install_xp_schedules",
    "process_batch",
    "voice_tick",
]


_Resources = typing.Annotated[TaskResources, TaskiqDepends()]

logger = structlog.get_logger(__name__)


async def _config(resources: TaskResources, guild_id: int) -> GuildConfig:
    return await resources.guild_config(guild_id)


async def _curve(resources: TaskResources, guild_id: int) -> Curve:
    return curve_for((await _config(resources, guild_id)).xp)


@REGISTRY.task("xp", PROCESS_BATCH_TASK)
async def process_batch(records: list[dict[str, typing.Any]], resources: _Resources) -> int:
    """Apply a batch of normalised records; returns the XP awarded.

    Guild and voice records update the voice state first, then message records earn XP, one
    atomic script per guild, and every member of the batch gets a level check.
    """
    try:
        parsed = parse_records(records)
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        raise PermanentJobError(f"unreadable XP batch: {error}") from error
    redis, keyspace = resources.redis, resources.keyspace
    voice: list[VoiceStateRecord] = []
    messages: dict[int, list[MessageRecord]] = collections.defaultdict(list)
    for record in parsed:
        if isinstance(record, GuildRecord):
            await apply_guild_record(redis, keyspace, record)
        elif isinstance(record, VoiceStateRecord):
            voice.append(record)
        else:
            messages[record.guild_id].append(record)
    if voice:
        await apply_voice_records(redis, keyspace, voice)
    awarded = 0
    jobs_maxlen = resources.settings.tasks.jobs.maxlen
    for guild_id, guild_records in messages.items():
        config = await _config(resources, guild_id)
        outcome = await award_messages(redis, keyspace, guild_id, config.xp, guild_records)
        awarded += sum(outcome.gained.values())
        await sync_levels(
            redis,
            keyspace,
            guild_id,
            curve_for(config.xp),
            outcome.totals,
            channel_by_member=outcome.last_channel,
            jobs_maxlen=jobs_maxlen,
            applied=outcome.applied_levels,
        )
    return awarded


@REGISTRY.task("xp", VOICE_TICK_TASK)
async def voice_tick(resources: _Resources, minute: int | None = None) -> int:
    """Award one minute of voice XP in every guild with voice state; returns members paid.

    `minute` (Unix minutes) defaults to the Redis server's current minute; each guild is
    paid at most once per minute, so a redelivered or doubled tick pays nothing more.
    """
    redis, keyspace = resources.redis, resources.keyspace
    if minute is None:
        seconds, _ = await redis.time()
        minute = int(seconds) // 60
    paid = 0
    jobs_maxlen = resources.settings.tasks.jobs.maxlen
    async for raw in redis.sscan_iter(keyspace.key("xp_voice_guilds"), count=1000):
        guild_id = int(raw)
        config = await _config(resources, guild_id)
        states, afk_channel = await read_voice_states(redis, keyspace, guild_id)
        earners = eligible_members(states, afk_channel, config.xp.voice)
        totals = await award_voice_minute(
            redis,
            keyspace,
            guild_id,
            minute=minute,
            members=earners,
            xp_per_minute=config.xp.voice.xp_per_minute,
        )
        if totals:
            paid += len(totals)
            await sync_levels(
                redis, keyspace, guild_id, curve_for(config.xp), totals, jobs_maxlen=jobs_maxlen
            )
    return paid


@REGISTRY.task("jobs", FLUSH_TASK)
async def flush(resources: _Resources) -> int:
    """Write dirty XP totals to PostgreSQL; returns rows written."""

    async def curve_of(guild_id: int) -> Curve:
        return await _curve(resources, guild_id)

    written = await flush_xp(resources.redis, resources.keyspace, curve_of)
    if written:
        logger.info("xp.flushed", rows=written)
    return written


@REGISTRY.task("jobs", APPLY_LEVEL_TASK)
async def apply_level(
    guild_id: int,
    user_id: int,
    resources: _Resources,
    *,
    level: int,
    previous: int,
    channel_id: int | None = None,
    notify: bool = True,
) -> None:
    """Give the member the reward roles of their level, then announce a level-up once.

    Roles follow the level applied *now* (read again, so jobs running out of order still end
    with the latest level's roles). A role the bot may not manage raises an alert and is
    skipped. The notice goes out only for a level up that still holds, once per
    (guild, member, level).
    """
    redis, keyspace = resources.redis, resources.keyspace
    config = await _config(resources, guild_id)
    current = await applied_level(redis, keyspace, guild_id, user_id)
    rewards = await LevelReward.filter(guild_id=guild_id).values_list("level", "role_id")
    plan = plan_rewards(
        [(int(at), int(role)) for at, role in rewards], current, config.levels.reward_mode
    )
    notice = config.levels.notice
    wants_notice = notify and level > previous and current >= level and notice.mode != "off"
    if not (plan.keep or plan.drop or wants_notice):
        return
    rest = await resources.discord_rest()
    if plan.keep or plan.drop:
        await _set_reward_roles(
            resources,
            rest,
            guild_id=guild_id,
            user_id=user_id,
            level=current,
            keep=plan.keep,
            drop=plan.drop,
        )
    if wants_notice:

        async def send() -> None:
            await _send_notice(
                resources,
                rest,
                guild_id=guild_id,
                user_id=user_id,
                level=level,
                channel_id=channel_id,
                config=config,
            )

        await run_once(redis, keyspace, "xp_notice", f"{guild_id}/{user_id}/{level}", send)


async def _set_reward_roles(
    resources: TaskResources,
    rest: hikari.api.RESTClient,
    *,
    guild_id: int,
    user_id: int,
    level: int,
    keep: frozenset[int],
    drop: frozenset[int],
) -> None:
    try:
        member = await rest.fetch_member(guild_id, user_id)
    except hikari.NotFoundError:
        logger.info("xp.reward_member_gone", guild_id=guild_id, user_id=user_id)
        return
    held = set(member.role_ids)
    changes = [(role, True) for role in sorted(keep - held)]
    changes += [(role, False) for role in sorted(drop & held)]
    for role, add in changes:
        reason = f"level {level} reward" if add else f"not a reward of level {level}"
        try:
            if add:
                await rest.add_role_to_member(guild_id, user_id, role, reason=reason)
            else:
                await rest.remove_role_from_member(guild_id, user_id, role, reason=reason)
        except hikari.ForbiddenError as error:
            logger.warning("xp.reward_role_forbidden", guild_id=guild_id, role_id=role)
            await _alert(
                resources,
                guild_id,
                (
                    f"cannot {'give' if add else 'take'} level reward role {role} "
                    f"{'to' if add else 'from'} member {user_id}: {error.message or 'forbidden'} "
                    "(move the bot's role above it, or grant Manage Roles)"
                ),
            )
        except hikari.NotFoundError:
            logger.warning("xp.reward_role_missing", guild_id=guild_id, role_id=role)


async def _send_notice(
    resources: TaskResources,
    rest: hikari.api.RESTClient,
    *,
    guild_id: int,
    user_id: int,
    level: int,
    channel_id: int | None,
    config: GuildConfig,
) -> None:
    notice = config.levels.notice
    target: int | None
    match notice.mode:
        case "current_channel":
            target = channel_id
        case "channel":
            target = notice.channel_id
        case "dm":
            try:
                target = int((await rest.create_dm_channel(user_id)).id)
            except (hikari.ForbiddenError, hikari.NotFoundError, hikari.BadRequestError):
                logger.info("xp.notice_dm_unavailable", guild_id=guild_id, user_id=user_id)
                return
        case _:
            return
    if target is None:
        return  # a level reached without a message (voice, admin): no current channel
    name = await resources.redis.hget(resources.keyspace.key("xp_guild", guild_id), "name")
    text = render_notice(
        notice.template,
        user_id=user_id,
        level=level,
        guild_name=name.decode() if isinstance(name, bytes) else (name or "this server"),
    )
    try:
        await rest.create_message(
            target,
            text[:2000],
            user_mentions=[user_id],
            role_mentions=False,
            mentions_everyone=False,
            mentions_reply=False,
        )
    except (hikari.ForbiddenError, hikari.NotFoundError) as error:
        await _alert(
            resources,
            guild_id,
            f"cannot post the level-up notice in channel {target}: {error.message}",
        )


async def _alert(resources: TaskResources, guild_id: int, message: str) -> None:
    """An operator alert from a level job: something the guild's admins must fix."""
    await raise_alert(
        resources.redis,
        resources.keyspace,
        source="xp.apply_level",
        level="warning",
        guild_id=guild_id,
        message=message,
    )


async def install_xp_schedules(
    source: JsonListScheduleSource, *, flush_interval_seconds: int = FLUSH_INTERVAL_SECONDS
) -> None:
    """Install the XP schedules with another flush interval (the scheduler installs the
    declared ones, `FEATURE.schedules`, itself)."""
    await install_schedules(source, xp_schedules(flush_interval_seconds))
