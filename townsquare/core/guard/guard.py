"""The one guarded path for every moderation action (flow 15): decide, execute, record.

:func:`guard_action` is what every source calls (slash commands through the internal API,
automod, anti-raid, anti-nuke, scheduled unbans, the dashboard):

1. hierarchy and permission (:func:`~townsquare.core.guard.hierarchy.decide`), on facts read
   from Discord at the time of the action;
2. anti-abuse (:func:`~townsquare.core.guard.abuse.check_abuse`) for a member's kicks and bans;
   the action that trips the limit raises an alert, DMs the owner and posts to the log channel;
3. one transaction records the case (numbered without gaps) and its audit entry, with the
   decision and its reason, whether allowed or blocked;
4. an allowed action is executed through Discord REST (`X-Audit-Log-Reason` names the case),
   the member is DMed (before a kick or ban, while they still share the server), and the case is
   posted to the log channel.

Idempotent under SIGKILL: the request's key is unique per guild, so a retry finds its case. A
case still `pending` (the process died between recording and confirming) is executed again,
which Discord's state makes harmless; a finished one is returned as it is, its DM and log
entry completed if they were missed.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing

import hikari
import structlog
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from townsquare.core.alerts import raise_alert
from townsquare.core.audit.models import ActorKind as AuditActorKind
from townsquare.core.audit.service import Actor, record
from townsquare.core.guard.abuse import check_abuse
from townsquare.core.guard.actions import DESTRUCTIVE, Action, ActorKind
from townsquare.core.guard.execute import execute
from townsquare.core.guard.facts import load_facts
from townsquare.core.guard.hierarchy import NO_HIERARCHY, Decision, decide
from townsquare.core.guard.models import Case, CaseStatus, DMStatus
from townsquare.core.guard.notify import dm_member, post_log, send_text, tells_member
from townsquare.core.guilds.service import ensure_guild

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis
    from tortoise.backends.base.client import BaseDBAsyncClient

    from townsquare.core.guard.actions import ActionRequest
    from townsquare.core.guard.hierarchy import GuildFacts
    from townsquare.core.guard.policy import GuardPolicy
    from townsquare.core.keyspace import Keyspace

__all__ = ["GuardContext", "Outcome", "guard_action", "next_case_number"]

_log = structlog.get_logger(__name__)
_BEFORE: typing.Final = frozenset({Action.KICK, Action.BAN})
"""Actions after which the member can no longer be DMed: they are told first."""
_NEXT_NUMBER: typing.Final = (
    "INSERT INTO moderation_case_counters (guild_id, issued) VALUES ($1, 1) "
    "ON CONFLICT (guild_id) DO UPDATE SET issued = moderation_case_counters.issued + 1 "
    "RETURNING issued"
)


@dataclasses.dataclass(frozen=True, slots=True)
class GuardContext:
    """What the guard works with: Discord REST, Redis, and the guild's policy."""

    rest: hikari.api.RESTClient
    redis: aioredis.Redis
    keyspace: Keyspace
    policy: GuardPolicy


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a request: its case and status, and the reason when it was refused."""

    case_number: int
    status: CaseStatus
    detail: str
    dm_status: DMStatus
    expires_at: datetime.datetime | None
    repeated: bool = False
    """The request's key had been seen: this is the earlier case."""

    @property
    def done(self) -> bool:
        return self.status in {CaseStatus.EXECUTED, CaseStatus.DRY_RUN}

    @classmethod
    def of(cls, case: Case, *, repeated: bool = False) -> Outcome:
        return cls(
            case.number,
            CaseStatus(case.status),
            case.detail,
            DMStatus(case.dm_status),
            case.expires_at,
            repeated,
        )


async def next_case_number(guild_id: int, connection: BaseDBAsyncClient) -> int:
    """The guild's next case number; inside the inserting transaction, so no gaps."""
    rows = await connection.execute_query_dict(_NEXT_NUMBER, [guild_id])
    return int(rows[0]["issued"])


async def guard_action(request: ActionRequest, context: GuardContext) -> Outcome:
    """Decide, record and (if allowed) execute `request`; see the module docs."""
    existing = await Case.get_or_none(guild_id=request.guild_id, key=request.key)
    if existing is not None and existing.status != CaseStatus.PENDING:
        await _finish_notices(existing, context, guild_name=None)
        return Outcome.of(existing, repeated=True)
    target_member = request.target_id if request.action not in NO_HIERARCHY else None
    facts, members = await load_facts(
        context.rest, request.guild_id, (request.actor_id, target_member or None)
    )
    case = existing
    if case is None:
        actor = members.get(request.actor_id) if request.actor_id else None
        target = members.get(request.target_id)
        decision = decide(facts, request, context.policy, actor=actor, target=target)
        if decision.allowed:
            decision = await _abuse(request, context, facts, decision)
        name = target.name if target is not None else ""
        case = await _open(request, decision, context.policy, target_name=name)
        if case.status in {CaseStatus.BLOCKED, CaseStatus.DRY_RUN}:
            await _finish_notices(case, context, guild_name=facts.name)
            return Outcome.of(case)
    if case.status == CaseStatus.PENDING:
        await _carry_out(case, request, context, facts)
    await _finish_notices(case, context, guild_name=facts.name)
    return Outcome.of(case, repeated=existing is not None)


async def _abuse(
    request: ActionRequest, context: GuardContext, facts: GuildFacts, decision: Decision
) -> Decision:
    actor_id = request.actor_id
    exempt = (
        request.actor_kind is not ActorKind.USER
        or actor_id is None
        or actor_id == facts.owner_id
        or actor_id in context.policy.trusted_user_ids
        or request.action not in DESTRUCTIVE
    )
    if exempt or actor_id is None:
        return decision
    limit = context.policy.abuse
    verdict = await check_abuse(
        context.redis,
        context.keyspace,
        limit,
        guild_id=request.guild_id,
        actor_id=actor_id,
        action_key=request.key,
    )
    if verdict.allowed:
        return decision
    seconds = max(1, round(verdict.cooldown_ms / 1000))
    reason = (
        f"anti-abuse: more than {limit.max_actions} kicks or bans within "
        f"{limit.window_seconds} s; your kicks and bans are blocked for {seconds} s"
    )
    if verdict.tripped:
        await _alert_abuse(request, context, facts, reason)
    return Decision(False, reason)


async def _alert_abuse(
    request: ActionRequest, context: GuardContext, facts: GuildFacts, reason: str
) -> None:
    """The owner by DM, the log channel, and an operator alert: once per trip."""
    text = (
        f"Anti-abuse in {facts.name}: <@{request.actor_id}> ({request.actor_name}) was blocked. "
        f"{reason[len('anti-abuse: ') :].capitalize()}."
    )
    await raise_alert(
        context.redis,
        context.keyspace,
        source="guard.anti_abuse",
        level="warning",
        guild_id=request.guild_id,
        message=text,
    )
    embed = hikari.Embed(title="Anti-abuse: moderator blocked", description=text, colour=0xE74C3C)
    targets: list[int] = []
    try:
        targets.append(int((await context.rest.create_dm_channel(facts.owner_id)).id))
    except hikari.HikariError as error:
        _log.info("guard.owner_dm_unavailable", guild_id=request.guild_id, error=str(error))
    if context.policy.log_channel_id is not None:
        targets.append(context.policy.log_channel_id)
    for channel_id in targets:
        try:
            await send_text(context.rest, channel_id, embed)
        except hikari.HikariError as error:
            _log.warning("guard.abuse_alert_failed", channel_id=channel_id, error=str(error))


async def _open(
    request: ActionRequest, decision: Decision, policy: GuardPolicy, *, target_name: str
) -> Case:
    """One transaction: the case (numbered) and its audit entry; a concurrent twin's case is
    returned instead of a second one."""
    now = datetime.datetime.now(datetime.UTC)
    if not decision.allowed:
        status = CaseStatus.BLOCKED
    elif policy.dry_run and request.touches_discord:
        status = CaseStatus.DRY_RUN
    elif request.touches_discord:
        status = CaseStatus.PENDING
    else:
        status = CaseStatus.EXECUTED
    expires = None
    if request.duration_seconds and request.action in {Action.TIMEOUT, Action.BAN}:
        expires = now + datetime.timedelta(seconds=request.duration_seconds)
    message_id = request.message_ids[0] if request.message_ids else None
    wants_dm = (
        policy.dm_members
        and tells_member(request.action)
        and status
        in {
            CaseStatus.PENDING,
            CaseStatus.EXECUTED,
        }
    )
    try:
        async with in_transaction() as connection:
            await ensure_guild(request.guild_id, using_db=connection)
            case = await Case.create(
                guild_id=request.guild_id,
                number=await next_case_number(request.guild_id, connection),
                key=request.key,
                action=request.action.value,
                source=request.source.value,
                actor_kind=request.actor_kind.value,
                actor_id=request.actor_id,
                actor_name=request.actor_name[:100],
                target_id=request.target_id,
                target_name=target_name[:100],
                reason=request.reason,
                status=status,
                detail=decision.reason if status == CaseStatus.BLOCKED else "",
                points=request.points if status != CaseStatus.BLOCKED else 0,
                duration_seconds=request.duration_seconds,
                delete_message_seconds=request.delete_message_seconds,
                purge_count=request.purge_count,
                expires_at=expires,
                channel_id=request.channel_id,
                message_id=message_id,
                message_ids=list(request.message_ids)
                if request.action in {Action.DELETE, Action.PURGE}
                else [],
                content=request.content[:2000] if request.content is not None else None,
                dm_status=DMStatus.PENDING if wants_dm else DMStatus.NONE,
                logged=policy.log_channel_id is None,
                occurred_at=request.occurred_at or now,
                using_db=connection,
            )
            await record(
                f"moderation.{request.action.value}",
                _audit_actor(request),
                guild_id=request.guild_id,
                target=str(request.target_id),
                after={
                    "case": case.number,
                    "status": status.value,
                    "decision": decision.reason,
                    "reason": request.reason,
                    "source": request.source.value,
                },
                using_db=connection,
            )
    except IntegrityError:
        twin = await Case.get_or_none(guild_id=request.guild_id, key=request.key)
        if twin is None:
            raise
        return twin
    return case


def _audit_actor(request: ActionRequest) -> Actor:
    if request.actor_kind is ActorKind.USER:
        return Actor(AuditActorKind.USER, request.actor_id, request.actor_name)
    return Actor.system(request.actor_name or f"townsquare {request.source.value}")


async def _carry_out(
    case: Case, request: ActionRequest, context: GuardContext, facts: GuildFacts
) -> None:
    if case.dm_status == DMStatus.PENDING and request.action in _BEFORE:
        case.dm_status = await dm_member(context.rest, case, facts.name, context.policy)
        await case.save(update_fields=["dm_status"])
    try:
        detail = await execute(context.rest, case, request)
    except hikari.ClientHTTPResponseError as error:
        case.status = CaseStatus.FAILED
        case.detail = f"Discord refused: {error.message or error.status} ({error.code})"
    else:
        case.status = CaseStatus.EXECUTED
        case.detail = detail
    if case.status == CaseStatus.FAILED and case.dm_status == DMStatus.PENDING:
        case.dm_status = DMStatus.NONE
    await case.save(update_fields=["status", "detail", "dm_status"])


async def _finish_notices(case: Case, context: GuardContext, *, guild_name: str | None) -> None:
    """The member's DM (if still owed) and the log channel entry (once)."""
    if case.dm_status == DMStatus.PENDING:
        if guild_name is None:
            guild_name = (await context.rest.fetch_guild(case.guild_id)).name
        case.dm_status = await dm_member(context.rest, case, guild_name, context.policy)
        await case.save(update_fields=["dm_status"])
    policy = context.policy
    if not case.logged and policy.log_channel_id is not None and policy.log_inline:
        await post_log(context.rest, policy.log_channel_id, case)
        case.logged = True
        await case.save(update_fields=["logged"])
