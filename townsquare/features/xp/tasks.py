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
from townsquare.core.features import KERNEL_PIPELINE
from townsquare.features.xp.domain.award import award_messages
from townsquare.features.xp.domain.config import MULTIPLIER_RULES_LIMIT, LevelsSection, XPSection
from townsquare.features.xp.domain.curve import curve_for
from townsquare.features.xp.domain.flush import flush_xp
from townsquare.features.xp.domain.jobs import (
    APPLY_LEVEL_TASK,
    FLUSH_INTERVAL_SECONDS,
    FLUSH_TASK,
    PROCESS_BATCH_TASK,
    VOICE_TICK_TASK,
    XP_PIPELINE,
    xp_schedules,
)
from townsquare.features.xp.domain.levels import (
    applied_level,
    notice_nonce,
    plan_rewards,
    render_notice,
    sync_levels,
)
from townsquare.features.xp.domain.models import LevelReward
from townsquare.features.xp.domain.rewards import LEVEL_REWARDS_LIMIT, active_rewards
from townsquare.features.xp.domain.voice import (
    apply_guild_record,
    apply_voice_records,
    award_voice_minute,
    eligible_members,
    read_voice_states,
    tick_is_stale,
)
from townsquare.tasks.errors import PermanentJobError
from townsquare.tasks.idempotency import run_once
from townsquare.tasks.locks import RedisLease
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
    return curve_for((await _config(resources, guild_id)).section(XPSection))


@REGISTRY.task(XP_PIPELINE, PROCESS_BATCH_TASK)
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
        elif isinstance(record, MessageRecord):
            messages[record.guild_id].append(record)
    if voice:
        await apply_voice_records(redis, keyspace, voice)
    awarded = 0
    jobs_maxlen = resources.settings.tasks.pipeline(KERNEL_PIPELINE).maxlen
    for guild_id, guild_records in messages.items():
        config = await _config(resources, guild_id)
        # Past the tier's `xp.multiplier_rules` (after a downgrade) the last rules are paused.
        limit = await resources.gate.value(guild_id, MULTIPLIER_RULES_LIMIT)
        section = config.section(XPSection).with_multiplier_rules(limit)
        outcome = await award_messages(redis, keyspace, guild_id, section, guild_records)
        awarded += sum(outcome.gained.values())
        await sync_levels(
            redis,
            keyspace,
            guild_id,
            curve_for(config.section(XPSection)),
            outcome.totals,
            channel_by_member=outcome.last_channel,
            jobs_maxlen=jobs_maxlen,
            applied=outcome.applied_levels,
        )
    return awarded


@REGISTRY.task(XP_PIPELINE, VOICE_TICK_TASK)
async def voice_tick(resources: _Resources, minute: int | None = None) -> int:
    """Award one minute of voice XP in every guild with voice state; returns members paid.

    `minute` (Unix minutes) is the minute the scheduler fired the tick in (a tick queued by
    hand defaults to the Redis server's current minute); each guild is paid at most once per
    minute, so a redelivered or doubled tick pays nothing more, and a late one still pays its
    own minute unless it is stale (`domain.voice.tick_is_stale`: then nothing).
    """
    redis, keyspace = resources.redis, resources.keyspace
    seconds, _ = await redis.time()
    current = int(seconds) // 60
    if minute is None:
        minute = current
    elif tick_is_stale(minute, current):
        logger.warning("xp.voice_tick_stale", minute=minute, late_minutes=current - minute)
        return 0
    paid = 0
    jobs_maxlen = resources.settings.tasks.pipeline(KERNEL_PIPELINE).maxlen
    guilds = [
        int(raw)
        for index_key in keyspace.bucket_keys("xp_voice_guilds")
        async for raw in redis.sscan_iter(index_key, count=1000)
    ]
    for guild_id in guilds:
        config = await _config(resources, guild_id)
        states, afk_channel = await read_voice_states(redis, keyspace, guild_id)
        earners = eligible_members(states, afk_channel, config.section(XPSection).voice)
        totals = await award_voice_minute(
            redis,
            keyspace,
            guild_id,
            minute=minute,
            members=earners,
            xp_per_minute=config.section(XPSection).voice.xp_per_minute,
        )
        if totals:
            paid += len(totals)
            await sync_levels(
                redis,
                keyspace,
                guild_id,
                curve_for(config.section(XPSection)),
                totals,
                jobs_maxlen=jobs_maxlen,
            )
    return paid


@REGISTRY.task(KERNEL_PIPELINE, FLUSH_TASK)
async def flush(resources: _Resources) -> int:
    """Write dirty XP totals to PostgreSQL; returns rows written."""

    async def curve_of(guild_id: int) -> Curve:
        return await _curve(resources, guild_id)

    jobs_maxlen = resources.settings.tasks.pipeline(KERNEL_PIPELINE).maxlen
    written = await flush_xp(resources.redis, resources.keyspace, curve_of, jobs_maxlen=jobs_maxlen)
    if written:
        logger.info("xp.flushed", rows=written)
    return written


@REGISTRY.task(KERNEL_PIPELINE, APPLY_LEVEL_TASK)
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
    # Past the tier's limit (after a downgrade) the highest levels' rewards are paused:
    # neither given nor taken, until the tier allows them again.
    rewards = active_rewards(
        await LevelReward.filter(guild_id=guild_id),
        await resources.gate.value(guild_id, LEVEL_REWARDS_LIMIT),
    )
    plan = plan_rewards(
        [(row.level, row.role_id) for row in rewards],
        current,
        config.section(LevelsSection).reward_mode,
    )
    notice = config.section(LevelsSection).notice
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

        await _announce_in_order(resources, guild_id, user_id, level, send)


class NoticeBusyError(Exception):
    """Another worker is announcing this member's level-up right now; retried shortly."""


_NOTICE_LEASE_SECONDS: typing.Final = 30.0


async def _announce_in_order(
    resources: TaskResources,
    guild_id: int,
    user_id: int,
    level: int,
    send: typing.Callable[[], typing.Awaitable[None]],
) -> None:
    """Announce `level` once, one of the member's notices at a time, never after a higher
    level's: level jobs of one member run concurrently, so without this a late job for level
    2 could post after level 3's notice."""
    redis, keyspace = resources.redis, resources.keyspace
    lease = RedisLease(
        redis, keyspace.key("xp_notice_lock", guild_id, user_id), _NOTICE_LEASE_SECONDS
    )
    async with lease.held() as acquired:
        if not acquired:
            raise NoticeBusyError(f"a level-up notice for {guild_id}/{user_id} is being posted")
        marker = keyspace.key("xp_noticed", guild_id, user_id)
        announced = await redis.get(marker)
        if announced is not None and int(announced) > level:
            logger.info("xp.notice_superseded", guild_id=guild_id, level=level)
            return
        await run_once(redis, keyspace, "xp_notice", f"{guild_id}/{user_id}/{level}", send)
        await redis.set(marker, level, ex=86_400)


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
                f"xp.reward_role_forbidden/{role}",
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
    notice = config.section(LevelsSection).notice
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
            nonce=notice_nonce(guild_id, user_id, level),
            user_mentions=[user_id],
            role_mentions=False,
            mentions_everyone=False,
            mentions_reply=False,
        )
    except (hikari.ForbiddenError, hikari.NotFoundError) as error:
        await _alert(
            resources,
            guild_id,
            f"xp.notice_forbidden/{target}",
            f"cannot post the level-up notice in channel {target}: {error.message}",
        )


async def _alert(resources: TaskResources, guild_id: int, key: str, message: str) -> None:
    """A guild alert from a level job: something the guild's admins must fix. `key` names the
    condition (one role, one channel), so every member it hits makes one message with a
    count, not one each (docs/alerts.md)."""
    await raise_alert(
        resources.redis,
        resources.keyspace,
        source="xp.apply_level",
        level="warning",
        guild_id=guild_id,
        message=message,
        key=key,
    )


async def install_xp_schedules(
    source: JsonListScheduleSource, *, flush_interval_seconds: int = FLUSH_INTERVAL_SECONDS
) -> None:
    """Install the XP schedules with another flush interval (the scheduler installs the
    declared ones, `FEATURE.schedules`, itself)."""
    await install_schedules(source, xp_schedules(flush_interval_seconds))
