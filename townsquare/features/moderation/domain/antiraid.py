"""Anti-raid: more than `joins` joins within `window_seconds` starts raid mode.

One Lua script per guild and batch of joins counts them in a sliding window (join time as the
shard received it) and keeps the raid's state: when it started, the last join, the joins
during it. A join inside raid mode (the one that starts it included) is judged once: its
verdict is stored with it, so a redelivered batch acts on nobody twice (the guard's keys make
the actions themselves exactly once too). Joiners whose account is younger than
`account_age_days` get the configured action through the guard, as the bot (source
`antiraid`). Raid mode ends after `quiet_seconds` without a join (:func:`end_quiet_raids`,
every minute), with a summary in the log channel and an operator alert.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing

import hikari

from townsquare.core.alerts import raise_alert
from townsquare.core.guard.actions import Action, ActionRequest, Source
from townsquare.core.guard.models import Case
from townsquare.core.guard.notify import send_text
from townsquare.core.keyspace import guild_bucket
from townsquare.features.moderation.domain.enforce import enforce

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    import redis.asyncio as aioredis

    from townsquare.core.events import MemberJoinRecord
    from townsquare.core.guard.guard import GuardContext
    from townsquare.core.keyspace import Keyspace
    from townsquare.features.moderation.domain.config import AntiRaid, ModerationSection

__all__ = ["RaidSummary", "end_quiet_raids", "judge_joins"]

_DAY_MS: typing.Final = 86_400_000

# KEYS[1] antiraid_joins (zset "<user>:<ms>" by join time), KEYS[2] antiraid_state (hash),
# KEYS[3] antiraid_active (set of guild ids); ARGV[1] guild, ARGV[2] window ms, ARGV[3] joins,
# ARGV[4] quiet ms, then 2 per join: user id, time ms. Returns per join: 0 calm, 1 in raid
# mode, 2 started raid mode.
_JUDGE = """
local window, threshold, quiet = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
for i = 5, #ARGV, 2 do
  local id, ts = ARGV[i], tonumber(ARGV[i + 1])
  local marker = 'j:' .. id .. ':' .. ARGV[i + 1]
  local stored = redis.call('HGET', KEYS[2], marker)
  if stored then
    out[#out + 1] = tonumber(stored)
  else
    redis.call('ZADD', KEYS[1], ts, id .. ':' .. ARGV[i + 1])
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ts - window)
    local count = redis.call('ZCOUNT', KEYS[1], '(' .. (ts - window), ts)
    local last = tonumber(redis.call('HGET', KEYS[2], 'last') or '-1')
    local verdict = 0
    if last >= 0 and ts - last <= quiet then
      verdict = 1
    elseif count >= threshold then
      verdict = 2
      redis.call('DEL', KEYS[2])
      redis.call('HSET', KEYS[2], 'started', ts, 'joins', 0)
      redis.call('SADD', KEYS[3], ARGV[1])
    end
    if verdict > 0 then
      if ts > last then redis.call('HSET', KEYS[2], 'last', ts) end
      redis.call('HINCRBY', KEYS[2], 'joins', 1)
      redis.call('HSET', KEYS[2], marker, verdict)
    end
    out[#out + 1] = verdict
  end
end
redis.call('PEXPIRE', KEYS[1], window)
return out
"""


@dataclasses.dataclass(frozen=True, slots=True)
class RaidSummary:
    guild_id: int
    started_ms: int
    ended_ms: int
    joins: int
    actioned: int


def _request(record: MemberJoinRecord, settings: AntiRaid) -> ActionRequest | None:
    young = record.timestamp_ms - record.account_created_ms < settings.account_age_days * _DAY_MS
    if settings.action == "none" or record.is_bot or not young:
        return None
    age_days = (record.timestamp_ms - record.account_created_ms) / _DAY_MS
    return ActionRequest.by_bot(
        Source.ANTIRAID,
        "anti-raid",
        guild_id=record.guild_id,
        action=Action.KICK if settings.action == "kick" else Action.TIMEOUT,
        target_id=record.user_id,
        key=f"antiraid/{record.user_id}/{record.timestamp_ms}",
        reason=f"anti-raid: joined during raid mode with an account {age_days:.1f} days old",
        occurred_at=datetime.datetime.fromtimestamp(record.timestamp_ms / 1000, datetime.UTC),
        duration_seconds=settings.timeout_seconds if settings.action == "timeout" else None,
    )


async def judge_joins(
    context: GuardContext, section: ModerationSection, joins: Sequence[MemberJoinRecord]
) -> int:
    """Count one guild's joins (in time order) and act on raid-mode joiners; returns how many
    were acted on."""
    settings = section.anti_raid
    if not joins or not settings.enabled:
        return 0
    ordered = sorted(joins, key=lambda j: (j.timestamp_ms, j.user_id))
    guild_id = ordered[0].guild_id
    redis, keyspace = context.redis, context.keyspace
    args: list[int | str] = [
        guild_id,
        settings.window_seconds * 1000,
        settings.joins,
        settings.quiet_seconds * 1000,
    ]
    for join in ordered:
        args += [join.user_id, join.timestamp_ms]
    script = redis.register_script(_JUDGE)
    verdicts = await script(
        keys=[
            keyspace.key("antiraid_joins", guild_id),
            keyspace.key("antiraid_state", guild_id),
            keyspace.key("antiraid_active", guild_bucket(guild_id)),
        ],
        args=args,
    )
    acted = 0
    for join, verdict in zip(ordered, verdicts, strict=True):
        if int(verdict) == 2:
            await _started(context, section, join)
        if int(verdict) > 0 and (request := _request(join, settings)) is not None:
            enforced = await enforce(request, context, section)
            acted += enforced.outcome.done
    return acted


async def _started(
    context: GuardContext, section: ModerationSection, join: MemberJoinRecord
) -> None:
    settings = section.anti_raid
    text = (
        f"Raid mode on: {settings.joins} joins within {settings.window_seconds} s. Joiners "
        f"with accounts younger than {settings.account_age_days} days: {settings.action}."
    )
    if settings.raise_verification:
        text += " " + await _raise_verification(context, join.guild_id)
    posted = await _post(context.rest, section.log_channel_id, "Raid mode on", text)
    await _alert(context.redis, context.keyspace, join.guild_id, text, posted=posted)


_HIGH: typing.Final = hikari.GuildVerificationLevel.HIGH


async def _raise_verification(context: GuardContext, guild_id: int) -> str:
    """Verification to High, the previous level kept in the raid's state; what happened."""
    try:
        before = (await context.rest.fetch_guild(guild_id)).verification_level
        if before >= _HIGH:
            return "Verification was already High or above."
        await context.rest.edit_guild(guild_id, verification_level=_HIGH, reason="anti-raid")
    except hikari.ForbiddenError:
        return "Verification could not be raised: the bot lacks Manage Server."
    state = context.keyspace.key("antiraid_state", guild_id)
    await context.redis.hset(state, "verification_before", int(before))
    return "Verification raised to High."


async def _restore_verification(
    rest: hikari.api.RESTClient, guild_id: int, before: bytes | str | None
) -> str:
    if before is None:
        return ""
    try:
        level = hikari.GuildVerificationLevel(int(before))
        await rest.edit_guild(guild_id, verification_level=level, reason="anti-raid ended")
    except hikari.HikariError:
        return " Verification could not be put back."
    return f" Verification back to {level.name.replace('_', ' ').title()}."


async def _alert(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, text: str, *, posted: bool
) -> None:
    """The operators' alert; also the guild's (its log channel, else the owner by DM) unless
    the log channel already has the embed, so the guild's admins get one message, not two."""
    await raise_alert(
        redis,
        keyspace,
        source="moderation.anti_raid",
        level="warning",
        guild_id=None if posted else guild_id,
        message=text if not posted else f"guild {guild_id}: {text}",
    )


async def _post(rest: hikari.api.RESTClient, channel_id: int | None, title: str, text: str) -> bool:
    """Post the embed in the log channel; whether it was posted."""
    if channel_id is None:
        return False
    try:
        await send_text(rest, channel_id, hikari.Embed(title=title, description=text))
    except hikari.HikariError:
        return False
    return True


async def end_quiet_raids(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    now_ms: int,
    section_of: typing.Callable[[int], typing.Awaitable[ModerationSection]],
    rest: hikari.api.RESTClient,
) -> list[RaidSummary]:
    """End every raid mode quiet for its guild's `quiet_seconds` at `now_ms`: a summary in
    the log channel and an alert each."""
    ended = []
    active = [
        (index_key, raw)
        for index_key in keyspace.bucket_keys("antiraid_active")
        for raw in await redis.smembers(index_key)
    ]
    for index_key, raw in active:
        guild_id = int(raw)
        section = await section_of(guild_id)
        state_key = keyspace.key("antiraid_state", guild_id)
        started, last, joins, before = await redis.hmget(
            state_key, ["started", "last", "joins", "verification_before"]
        )
        if last is not None and now_ms - int(last) <= section.anti_raid.quiet_seconds * 1000:
            continue
        started_ms = int(started or now_ms)
        since = datetime.datetime.fromtimestamp(started_ms / 1000, datetime.UTC)
        actioned = await Case.filter(
            guild_id=guild_id, source=Source.ANTIRAID.value, occurred_at__gte=since
        ).count()
        summary = RaidSummary(guild_id, started_ms, now_ms, int(joins or 0), actioned)
        text = (
            f"Raid mode ended after {(now_ms - started_ms) // 1000} s: {summary.joins} joins "
            f"during it, {actioned} acted on."
        ) + await _restore_verification(rest, guild_id, before)
        posted = await _post(rest, section.log_channel_id, "Raid mode ended", text)
        await _alert(redis, keyspace, guild_id, text, posted=posted)
        await redis.delete(state_key)
        await redis.srem(index_key, raw)
        ended.append(summary)
    return ended
