"""Temporary bans end through the guard: found in PostgreSQL, so a restart loses none."""

from __future__ import annotations

import typing

from townsquare.core.guard.actions import Action, ActionRequest, Source
from townsquare.core.guard.models import Case, CaseStatus

if typing.TYPE_CHECKING:
    import datetime

__all__ = ["due_bans", "unban_request"]


async def due_bans(now: datetime.datetime, limit: int = 100) -> list[Case]:
    """Executed temporary bans whose time is up and that are not lifted yet (oldest first)."""
    rows = (
        await Case.filter(
            action=Action.BAN.value,
            status=CaseStatus.EXECUTED,
            lifted=False,
            expires_at__lte=now,
        )
        .order_by("expires_at")
        .limit(limit)
    )
    return list(rows)


def unban_request(case: Case) -> ActionRequest:
    return ActionRequest.by_bot(
        Source.SCHEDULE,
        "temporary ban",
        guild_id=case.guild_id,
        action=Action.UNBAN,
        target_id=case.target_id,
        key=f"unban/{case.number}",
        reason=f"the temporary ban of case {case.number} ended",
    )


async def mark_lifted(case: Case) -> None:
    case.lifted = True
    await case.save(update_fields=["lifted"])
