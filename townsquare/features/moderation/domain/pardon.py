"""Pardoning a case: an action like the others (the guard checks who asks), after which the
case's points stop counting. From `/pardon` and from the dashboard's case page."""

from __future__ import annotations

import datetime
import typing

from townsquare.core.guard.actions import Action, ActionRequest, ActorKind
from townsquare.features.moderation.domain import cases
from townsquare.features.moderation.domain.enforce import Enforced, enforce

if typing.TYPE_CHECKING:
    from townsquare.core.guard.actions import Source
    from townsquare.core.guard.guard import GuardContext
    from townsquare.features.moderation.domain.config import ModerationSection

__all__ = ["NothingToPardonError", "pardon_case"]


class NothingToPardonError(ValueError):
    """The case carries no points."""


async def pardon_case(
    context: GuardContext,
    section: ModerationSection,
    guild_id: int,
    number: int,
    *,
    source: Source,
    actor: tuple[int, str],
    key: str,
    reason: str = "",
) -> Enforced:
    """Pardon case `number` of `guild_id`; raises :class:`cases.CaseNotFoundError` or
    :class:`NothingToPardonError`."""
    case = await cases.find_case(guild_id, number)
    if case.points <= 0:
        raise NothingToPardonError(f"case {number} carries no points to pardon")
    request = ActionRequest(
        guild_id=guild_id,
        action=Action.PARDON,
        target_id=case.target_id,
        key=key,
        source=source,
        actor_kind=ActorKind.USER,
        actor_id=actor[0],
        actor_name=actor[1],
        reason=f"pardon of case {number}" + (f": {reason}" if reason else ""),
        occurred_at=datetime.datetime.now(datetime.UTC),
    )
    enforced = await enforce(request, context, section)
    if enforced.outcome.done:
        await cases.set_pardoned(guild_id, number)
    return enforced
