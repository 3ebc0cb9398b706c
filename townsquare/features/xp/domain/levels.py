"""Level state, level-up jobs, reward-role plans and notice text.

Per guild, the `xp_levels` hash holds the level last applied to each member. After every
change of a member's XP, :func:`sync_levels` compares the level of the new total with it;
when they differ it records the new level and appends an `xp.apply_level` job to the guild's
`xp_level_jobs` outbox (a list), in one Lua call (every key of it in the guild's cluster
slot). The jobs then move, in order, from the outbox to the `jobs` stream
(:func:`queue_level_jobs`): XADD first, then each job sent leaves the outbox. A crash before the
Lua call leaves the comparison different, so the redelivered batch (whose awarding is skipped
as a duplicate) still records and queues the job; a crash after it leaves the job in the
outbox, which the next sync of the guild or the next flush of the guild's XP sends; a crash
between XADD and the removal sends it twice, and the job is idempotent. The job itself reads
the applied level again when it runs, so jobs running out of order still leave the roles of
the latest level, and it never runs before its level is recorded.
"""

from __future__ import annotations

import dataclasses
import typing

from townsquare.core.events import encode_job
from townsquare.core.nonces import message_nonce
from townsquare.features.xp.domain.hydrate import ensure_guild_xp, require_loaded, run_loaded
from townsquare.features.xp.domain.jobs import APPLY_LEVEL_TASK

if typing.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.features.xp.domain.curve import Curve

__all__ = [
    "APPLY_LEVEL_TASK",
    "LevelChange",
    "RewardPlan",
    "applied_level",
    "notice_nonce",
    "plan_rewards",
    "queue_level_jobs",
    "render_notice",
    "sync_levels",
]


# KEYS: xp, xp_levels, xp_level_jobs (the outbox), xp_loaded. ARGV: per member: id, the
# total the level was computed from, level, job. A member whose total moved on meanwhile is
# skipped: whoever moved it syncs it next, with the newer total.
_SYNC_SCRIPT: typing.Final = (
    require_loaded("KEYS[4]")
    + """
local queued = {}
for k = 1, #ARGV, 4 do
  local member, total, level = ARGV[k], ARGV[k + 1], ARGV[k + 2]
  if (redis.call('HGET', KEYS[1], member) or '0') == total
      and (redis.call('HGET', KEYS[2], member) or '0') ~= level then
    redis.call('RPUSH', KEYS[3], ARGV[k + 3])
    redis.call('HSET', KEYS[2], member, level)
    queued[#queued + 1] = member
  end
end
return queued
"""
)

_DRAIN: typing.Final = 1000
"""Jobs sent from an outbox per call at most (the rest go with the guild's next sync or flush)."""

# KEYS: xp_level_jobs. ARGV: jobs sent to the stream. Removes each from the outbox (each job
# is unique: it carries its own task id), whoever else sent or added jobs meanwhile.
_SENT_SCRIPT: typing.Final = """
for k = 1, #ARGV do redis.call('LREM', KEYS[1], 1, ARGV[k]) end
return #ARGV
"""


@dataclasses.dataclass(frozen=True, slots=True)
class LevelChange:
    user_id: int
    previous: int
    level: int


async def sync_levels(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    guild_id: int,
    curve: Curve,
    totals: Mapping[int, int],
    *,
    channel_by_member: Mapping[int, int] | None = None,
    jobs_maxlen: int | None = None,
    notify: bool = True,
    applied: Mapping[int, int] | None = None,
) -> list[LevelChange]:
    """Queue `xp.apply_level` for members whose level differs from the applied one.

    `channel_by_member` names the channel a notice in mode `current_channel` goes to;
    `notify=False` (imports, resets) applies roles without any notice. `applied` (the
    levels applied, when the caller read them already) saves a round trip.
    """
    if not totals:
        return []
    members = list(totals)
    levels_key = keyspace.key("xp_levels", guild_id)
    if applied is None:
        raw = await redis.hmget(levels_key, [str(member) for member in members])
        applied = {member: int(level or 0) for member, level in zip(members, raw, strict=True)}
    changes = [
        LevelChange(member, applied[member], curve.level_for(totals[member]))
        for member in members
        if curve.level_for(totals[member]) != applied[member]
    ]
    if not changes:
        return []
    channels = channel_by_member or {}
    args: list[int | str | bytes] = []
    for change in changes:
        job = encode_job(
            APPLY_LEVEL_TASK,
            guild_id,
            change.user_id,
            level=change.level,
            previous=change.previous,
            channel_id=channels.get(change.user_id),
            notify=notify,
        )
        args += [change.user_id, totals[change.user_id], change.level, job]
    script = redis.register_script(_SYNC_SCRIPT)
    keys = [
        keyspace.key("xp", guild_id),
        levels_key,
        keyspace.key("xp_level_jobs", guild_id),
        keyspace.key("xp_loaded", guild_id),
    ]
    # Refused only if Redis lost the guild after the totals were computed; once it is loaded
    # the script's own comparison skips every member whose total is not the one given.
    queued = await run_loaded(redis, keyspace, guild_id, lambda: script(keys=keys, args=args))
    done = {int(member) for member in queued}
    if done:
        await queue_level_jobs(redis, keyspace, guild_id, jobs_maxlen=jobs_maxlen)
    return [change for change in changes if change.user_id in done]


async def queue_level_jobs(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, *, jobs_maxlen: int | None = None
) -> int:
    """Send the guild's outbox of level jobs to the `jobs` stream, in the order they were
    recorded; returns how many.

    The outbox is a list of encoded jobs (each carries its level and its own task id): XADD,
    then LREM, so a crash in between sends a job twice rather than never.
    """
    outbox = keyspace.key("xp_level_jobs", guild_id)
    jobs = typing.cast("list[bytes]", await redis.lrange(outbox, 0, _DRAIN - 1))
    if not jobs:
        return 0
    stream = keyspace.key("stream", "jobs")
    async with redis.pipeline(transaction=False) as pipe:
        for job in jobs:
            pipe.xadd(stream, {b"data": job}, maxlen=jobs_maxlen or None, approximate=True)
        await pipe.execute()
    await redis.register_script(_SENT_SCRIPT)(keys=[outbox], args=jobs)
    return len(jobs)


async def applied_level(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, user_id: int
) -> int:
    """The level last applied to the member (0 when none was)."""
    await ensure_guild_xp(redis, keyspace, guild_id)
    value = await redis.hget(keyspace.key("xp_levels", guild_id), str(user_id))
    return int(value or 0)


@dataclasses.dataclass(frozen=True, slots=True)
class RewardPlan:
    keep: frozenset[int]
    """Reward roles the member should have."""
    drop: frozenset[int]
    """Reward roles the member should not have."""


def plan_rewards(
    rewards: Iterable[tuple[int, int]], level: int, mode: typing.Literal["stack", "replace"]
) -> RewardPlan:
    """Reward roles to hold at `level`, from `(level, role_id)` pairs.

    `stack` keeps every reward at or below the level; `replace` only those of the highest
    rewarded level at or below it. Every other reward role is dropped (XP taken away).
    """
    pairs = list(rewards)
    earned = [(at, role) for at, role in pairs if at <= level]
    if mode == "replace" and earned:
        top = max(at for at, _ in earned)
        earned = [(at, role) for at, role in earned if at == top]
    keep = frozenset(role for _, role in earned)
    return RewardPlan(keep, frozenset(role for _, role in pairs) - keep)


def notice_nonce(guild_id: int, user_id: int, level: int) -> str:
    """Discord's `nonce` for the level-up notice of (guild, member, level): a job retried after
    Discord took the notice posts it once (`core.nonces`)."""
    return message_nonce("level", guild_id, user_id, level)


def render_notice(template: str, *, user_id: int, level: int, guild_name: str) -> str:
    """The notice text: `{user}` becomes a mention, `{level}` and `{guild}` their values.

    Plain replacement, not `str.format`: a template is admin input and must not reach
    attributes or fail on other braces.
    """
    return (
        template.replace("{user}", f"<@{user_id}>")
        .replace("{level}", str(level))
        .replace("{guild}", guild_name)
    )
