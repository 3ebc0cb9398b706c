"""From an offense to the ladder: every action goes through the kernel's guard, and an offense
with points may climb the escalation ladder (flow 5).

`enforce` is what slash commands, the dashboard and automod call: the guard decides, executes
and records the case; if the case counts points, the member's active total before and after it
is computed at the case's time (:mod:`.ladder`), and a crossed step becomes a second guarded
action by the bot, keyed after the offense so a retry never escalates twice.
"""

from __future__ import annotations

import dataclasses
import typing

from townsquare.core.guard.actions import Action, ActionRequest, ActorKind
from townsquare.core.guard.guard import GuardContext, Outcome, guard_action
from townsquare.core.guard.models import Case
from townsquare.core.guard.policy import AbuseLimit, GuardPolicy
from townsquare.features.moderation.domain.cases import COUNTING, offenses_before
from townsquare.features.moderation.domain.ladder import Step, active_points, crossed_step

if typing.TYPE_CHECKING:
    import hikari
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.features.moderation.domain.config import ModerationSection

__all__ = ["Enforced", "context_for", "enforce", "guard_policy", "ladder_steps"]

_STEP_ACTIONS: typing.Final = {
    "warn": Action.WARN,
    "timeout": Action.TIMEOUT,
    "kick": Action.KICK,
    "ban": Action.BAN,
}
_ROLE_LISTS: typing.Final = {
    "warn": "warn",
    "offense": "warn",
    "pardon": "warn",
    "note": "note",
    "timeout": "timeout",
    "untimeout": "timeout",
    "kick": "kick",
    "ban": "ban",
    "unban": "ban",
    "purge": "purge",
    "delete": "purge",
}
"""Which configured moderator-role list allows each action."""


@dataclasses.dataclass(frozen=True, slots=True)
class Enforced:
    outcome: Outcome
    escalation: Outcome | None = None
    active_points: float = 0.0


def guard_policy(section: ModerationSection, *, log_inline: bool = True) -> GuardPolicy:
    roles = section.moderator_roles.model_dump()
    abuse = section.anti_abuse
    return GuardPolicy(
        moderator_role_ids={
            action: frozenset(roles[listed]) for action, listed in _ROLE_LISTS.items()
        },
        abuse=AbuseLimit(abuse.max_actions, abuse.window_seconds, abuse.cooldown_seconds),
        trusted_user_ids=frozenset(abuse.trusted_user_ids),
        dm_members=section.dm_members,
        log_channel_id=section.log_channel_id,
        appeal_text=section.appeal_text,
        dry_run=section.dry_run,
        log_inline=log_inline,
    )


def context_for(
    rest: hikari.api.RESTClient,
    redis: aioredis.Redis,
    keyspace: Keyspace,
    section: ModerationSection,
    *,
    log_inline: bool = True,
) -> GuardContext:
    return GuardContext(rest, redis, keyspace, guard_policy(section, log_inline=log_inline))


def ladder_steps(section: ModerationSection) -> list[Step]:
    return [Step(s.offenses, s.action, s.duration_seconds) for s in section.escalation]


async def enforce(
    request: ActionRequest, context: GuardContext, section: ModerationSection
) -> Enforced:
    """Guard `request`; if it records points, apply the ladder (see the module docs)."""
    outcome = await guard_action(request, context)
    if request.points <= 0 or outcome.status not in COUNTING:
        return Enforced(outcome)
    case = await Case.get(guild_id=request.guild_id, number=outcome.case_number)
    expiry, half_life = section.offense_expiry_days, section.points_half_life_days
    earlier = await offenses_before(case)
    before = active_points(earlier, case.occurred_at, expiry_days=expiry, half_life_days=half_life)
    after = before + case.points
    step = crossed_step(ladder_steps(section), before, after)
    if step is None or (step.action == "warn" and request.action is Action.WARN):
        return Enforced(outcome, None, after)
    escalation = await guard_action(
        ActionRequest(
            guild_id=request.guild_id,
            action=_STEP_ACTIONS[step.action],
            target_id=request.target_id,
            key=f"{request.key}/ladder"[:200],
            source=request.source,
            actor_kind=ActorKind.SYSTEM,
            actor_name="escalation",
            reason=(
                f"escalation: {after:g} active points reached the step at {step.threshold} "
                f"(case {case.number}: {request.reason or request.action.value})"
            )[:1000],
            occurred_at=case.occurred_at,
            duration_seconds=step.duration_seconds if step.action == "timeout" else None,
        ),
        context,
    )
    return Enforced(outcome, escalation, after)
