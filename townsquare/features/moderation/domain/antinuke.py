"""Anti-nuke (flow 15): destructive changes in the audit log, counted per actor, trip a response.

The shards publish GUILD_AUDIT_LOG_ENTRY_CREATE as `audit_log_entry` records (intent
GUILD_MODERATION, asked for while anti-nuke is on in the guild defaults; Discord sends them
only to a bot with View Audit Log). One Lua script per guild, actor and batch counts the
actor's watched changes per kind (`limits`) in a sliding window of entry time (the entry id's
snowflake, never the worker's clock). The entry that carries a kind past its limit trips:

1. the guard acts on the actor, as the bot (source `antinuke`): a member loses every role
   with a dangerous permission (`strip_roles`; or `timeout`, `kick`: `action`), a bot is
   kicked (`bot_action`); the case says what was done or why it could not be;
2. the owner is DMed and the log channel gets an embed, once per trip; an operator alert
   (`moderation.anti_nuke`) is raised, carrying the guild (so the alert path delivers it)
   only when neither the DM nor the log channel could be reached.

After a trip the actor's further entries are not acted on for `cooldown_seconds`. The owner,
the bot itself and `trusted_user_ids` are never counted.

Idempotent: each entry's verdict is kept (a trip's for the cool-down; a counted entry is in
the window), so a redelivered batch trips nothing twice, and the guard's key
(`antinuke/<actor>/<entry>`) makes the action once. The alerts are at least once: a worker
killed between sending them and marking them sent sends them again on redelivery.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import typing

import hikari
import structlog

from townsquare.core.alerts import raise_alert
from townsquare.core.guard.actions import Action, ActionRequest, Source
from townsquare.core.guard.facts import load_facts
from townsquare.core.guard.models import CaseStatus
from townsquare.core.guard.notify import send_text
from townsquare.features.moderation.domain.enforce import enforce

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    from townsquare.core.events import AuditLogRecord
    from townsquare.core.guard.guard import GuardContext, Outcome
    from townsquare.core.guard.hierarchy import GuildFacts
    from townsquare.features.moderation.domain.config import AntiNuke, ModerationSection

__all__ = ["WATCHED", "Trip", "judge_entries"]

_log = structlog.get_logger(__name__)

WATCHED: typing.Final[dict[int, str]] = {
    10: "channel_create",
    12: "channel_delete",
    20: "kick",
    22: "ban",
    28: "bot_add",
    30: "role_create",
    32: "role_delete",
    50: "webhook_create",
}
"""Discord's audit-log action types anti-nuke counts, by the `limits` name of each."""

_SAID: typing.Final = {
    "channel_create": "channels created",
    "channel_delete": "channels deleted",
    "kick": "kicks",
    "ban": "bans",
    "bot_add": "bots added",
    "role_create": "roles created",
    "role_delete": "roles deleted",
    "webhook_create": "webhooks created",
}

# KEYS[1] antinuke_actions (zset "<kind>:<entry>" by entry time), KEYS[2] antinuke_state
# (hash: "v:<entry>" verdicts of entries during a cool-down, `tripped_until`, `newest`);
# ARGV[1] window ms, ARGV[2] cool-down ms, then 4 per entry: kind, entry id, time ms, limit.
# Returns per entry: 0 counted (or too old to count), 1 ignored in a cool-down, 2 tripped.
# Before a trip each kind holds at most its limit in the window, so the counting loop is
# bounded by the configuration; a trip empties the window.
_JUDGE = """
local window, cooldown = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV, 4 do
  local kind, id, ts, limit = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local member = kind .. ':' .. id
  local stored = redis.call('HGET', KEYS[2], 'v:' .. id)
  local newest = tonumber(redis.call('HGET', KEYS[2], 'newest') or '-1')
  if stored then
    out[#out + 1] = tonumber(stored)
  elseif redis.call('ZSCORE', KEYS[1], member) or ts <= newest - window then
    out[#out + 1] = 0
  elseif ts <= tonumber(redis.call('HGET', KEYS[2], 'tripped_until') or '-1') then
    redis.call('HSET', KEYS[2], 'v:' .. id, 1)
    out[#out + 1] = 1
  else
    redis.call('ZADD', KEYS[1], ts, member)
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ts - window)
    if ts > newest then redis.call('HSET', KEYS[2], 'newest', ts) end
    local count = 0
    for _, seen in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (ts - window), '+inf')) do
      if string.sub(seen, 1, #kind + 1) == kind .. ':' then count = count + 1 end
    end
    if count > limit then
      redis.call('DEL', KEYS[1])
      redis.call('HSET', KEYS[2], 'tripped_until', ts + cooldown, 'v:' .. id, 2)
      out[#out + 1] = 2
    else
      out[#out + 1] = 0
    end
  end
end
local ttl = math.max(window, cooldown)
redis.call('PEXPIRE', KEYS[1], window)
redis.call('PEXPIRE', KEYS[2], ttl)
return out
"""


@dataclasses.dataclass(frozen=True, slots=True)
class Trip:
    """An actor carried a kind of change past its limit."""

    actor_id: int
    entry: AuditLogRecord
    kind: str
    limit: int
    outcome: Outcome


async def judge_entries(
    context: GuardContext, section: ModerationSection, entries: Sequence[AuditLogRecord]
) -> list[Trip]:
    """Count one guild's audit-log entries per actor and respond to every trip."""
    settings = section.anti_nuke
    watched = [e for e in entries if e.action_type in WATCHED and e.user_id is not None]
    if not settings.enabled or not watched:
        return []
    trusted = set(settings.trusted_user_ids)
    facts, _ = await load_facts(context.rest, watched[0].guild_id, ())
    exempt = trusted | {facts.owner_id, facts.bot.user_id}
    by_actor: dict[int, list[AuditLogRecord]] = collections.defaultdict(list)
    for entry in sorted(watched, key=lambda e: e.entry_id):
        if entry.user_id not in exempt:
            by_actor[typing.cast("int", entry.user_id)].append(entry)
    trips = []
    for actor_id, mine in by_actor.items():
        verdicts = await _count(context, settings, facts.guild_id, actor_id, mine)
        for entry, verdict in zip(mine, verdicts, strict=True):
            if verdict == 2:
                trips.append(await _respond(context, section, facts, actor_id, entry))
    return trips


async def _count(
    context: GuardContext,
    settings: AntiNuke,
    guild_id: int,
    actor_id: int,
    entries: Sequence[AuditLogRecord],
) -> list[int]:
    limits = settings.limits.model_dump()
    args: list[int | str] = [settings.window_seconds * 1000, settings.cooldown_seconds * 1000]
    for entry in entries:
        kind = WATCHED[entry.action_type]
        args += [kind, entry.entry_id, entry.timestamp_ms, limits[kind]]
    script = context.redis.register_script(_JUDGE)
    keys = [
        context.keyspace.key("antinuke_actions", guild_id, actor_id),
        context.keyspace.key("antinuke_state", guild_id, actor_id),
    ]
    return [int(v) for v in await script(keys=keys, args=args)]


def _request(
    settings: AntiNuke, actor_id: int, is_bot: bool, entry: AuditLogRecord, reason: str
) -> ActionRequest:
    chosen = settings.bot_action if is_bot else settings.action
    action = {"strip_roles": Action.STRIP_ROLES, "timeout": Action.TIMEOUT, "kick": Action.KICK}
    return ActionRequest.by_bot(
        Source.ANTINUKE,
        "anti-nuke",
        guild_id=entry.guild_id,
        action=action[chosen],
        target_id=actor_id,
        key=f"antinuke/{actor_id}/{entry.entry_id}",
        reason=reason,
        occurred_at=datetime.datetime.fromtimestamp(entry.timestamp_ms / 1000, datetime.UTC),
        duration_seconds=settings.timeout_seconds if chosen == "timeout" else None,
    )


async def _respond(
    context: GuardContext,
    section: ModerationSection,
    facts: GuildFacts,
    actor_id: int,
    entry: AuditLogRecord,
) -> Trip:
    settings = section.anti_nuke
    kind = WATCHED[entry.action_type]
    limit = int(getattr(settings.limits, kind))
    _, members = await load_facts(context.rest, entry.guild_id, (actor_id,))
    actor = members.get(actor_id)
    reason = f"anti-nuke: more than {limit} {_SAID[kind]} within {settings.window_seconds} s"
    request = _request(settings, actor_id, actor is not None and actor.is_bot, entry, reason)
    outcome = (await enforce(request, context, section)).outcome
    trip = Trip(actor_id, entry, kind, limit, outcome)
    await _alert_once(context, section, facts, trip, actor.name if actor else str(actor_id))
    return trip


async def _alert_once(
    context: GuardContext, section: ModerationSection, facts: GuildFacts, trip: Trip, name: str
) -> None:
    state = context.keyspace.key("antinuke_state", facts.guild_id, trip.actor_id)
    marker = f"alerted:{trip.entry.entry_id}"  # keyspace: not a key (a field of the hash)
    if await context.redis.hexists(state, marker):
        return
    outcome = trip.outcome
    if outcome.status == CaseStatus.DRY_RUN:
        what = f"dry run, nothing was done (case {outcome.case_number})"
    elif outcome.done:
        what = f"case {outcome.case_number}: {outcome.detail}"
    else:
        what = f"could not act (case {outcome.case_number}): {outcome.detail}"
    text = (
        f"Anti-nuke in {facts.name}: <@{trip.actor_id}> ({name}) made more than {trip.limit} "
        f"{_SAID[trip.kind]} within {section.anti_nuke.window_seconds} s; {what}."
    )
    embed = hikari.Embed(title="Anti-nuke tripped", description=text, colour=0xE74C3C)
    told = await _tell(context.rest, facts.owner_id, section.log_channel_id, embed)
    await raise_alert(
        context.redis,
        context.keyspace,
        source="moderation.anti_nuke",
        level="critical",
        guild_id=None if told else facts.guild_id,
        message=text,
    )
    await context.redis.hset(state, marker, 1)


async def _tell(
    rest: hikari.api.RESTClient, owner_id: int, log_channel_id: int | None, embed: hikari.Embed
) -> bool:
    """The owner by DM and the log channel; whether either got it."""
    targets: list[int] = []
    try:
        targets.append(int((await rest.create_dm_channel(owner_id)).id))
    except hikari.HikariError as error:
        _log.info("antinuke.owner_dm_unavailable", owner_id=owner_id, error=str(error))
    if log_channel_id is not None:
        targets.append(log_channel_id)
    told = False
    for channel_id in targets:
        try:
            await send_text(rest, channel_id, embed)
        except hikari.HikariError as error:
            _log.warning("antinuke.alert_failed", channel_id=channel_id, error=str(error))
        else:
            told = True
    return told
