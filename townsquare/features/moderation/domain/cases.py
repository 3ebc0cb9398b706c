"""Reading and amending cases: a member's history, a guild's list with filters, one case, its
reason, pardons, and the offense points that feed the ladder."""

from __future__ import annotations

import dataclasses
import typing

from tortoise.transactions import in_transaction

from townsquare.core.audit.service import Actor, record
from townsquare.core.guard.models import Case, CaseStatus
from townsquare.features.moderation.domain.ladder import Offense

if typing.TYPE_CHECKING:
    import datetime

    from tortoise.queryset import QuerySet

__all__ = [
    "COUNTING",
    "PAGE_SIZE",
    "CaseFilter",
    "CaseNotFoundError",
    "edit_reason",
    "find_case",
    "list_cases",
    "offenses_before",
]

PAGE_SIZE: typing.Final = 10
COUNTING: typing.Final = (CaseStatus.EXECUTED, CaseStatus.DRY_RUN, CaseStatus.FAILED)
"""Cases whose points count: an offense happened even if Discord refused the penalty (and a
dry run must escalate as the real thing would)."""


class CaseNotFoundError(LookupError):
    def __init__(self, number: int) -> None:
        super().__init__(f"there is no case {number} in this server")
        self.number = number


@dataclasses.dataclass(frozen=True, slots=True)
class CaseFilter:
    target_id: int | None = None
    actor_id: int | None = None
    action: str | None = None
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None


def _filtered(guild_id: int, where: CaseFilter) -> QuerySet[Case]:
    query = Case.filter(guild_id=guild_id)
    if where.target_id is not None:
        query = query.filter(target_id=where.target_id)
    if where.actor_id is not None:
        query = query.filter(actor_id=where.actor_id)
    if where.action is not None:
        query = query.filter(action=where.action)
    if where.since is not None:
        query = query.filter(occurred_at__gte=where.since)
    if where.until is not None:
        query = query.filter(occurred_at__lt=where.until)
    return query


async def list_cases(
    guild_id: int, where: CaseFilter, page: int, *, page_size: int = PAGE_SIZE
) -> tuple[list[Case], int]:
    """One page (1-based) of matching cases, newest first, and the number of pages (>= 1)."""
    query = _filtered(guild_id, where)
    total = await query.count()
    pages = max(1, -(-total // page_size))
    rows = await query.order_by("-number").offset((page - 1) * page_size).limit(page_size)
    return list(rows), pages


async def find_case(guild_id: int, number: int) -> Case:
    case = await Case.get_or_none(guild_id=guild_id, number=number)
    if case is None:
        raise CaseNotFoundError(number)
    return case


async def edit_reason(guild_id: int, number: int, reason: str, actor: Actor) -> Case:
    """Change a case's reason (audited with the old and new reason)."""
    async with in_transaction() as connection:
        case = (
            await Case.select_for_update()
            .using_db(connection)
            .get_or_none(guild_id=guild_id, number=number)
        )
        if case is None:
            raise CaseNotFoundError(number)
        before = case.reason
        case.reason = reason
        await case.save(update_fields=["reason"], using_db=connection)
        await record(
            "moderation.case_reason",
            actor,
            guild_id=guild_id,
            target=f"case {number}",
            before={"reason": before},
            after={"reason": reason},
            using_db=connection,
        )
    return case


async def offenses_before(case: Case) -> list[Offense]:
    """The member's counting offenses recorded before `case` (lower case numbers).

    Recording order, not message time: numbers are given out in commit order (the counter's
    row lock), so every earlier case is committed when this one is judged, and two offenses
    processed at once, or out of time order, never both see an empty history.
    """
    rows = await Case.filter(
        guild_id=case.guild_id,
        target_id=case.target_id,
        points__gt=0,
        pardoned=False,
        status__in=COUNTING,
        number__lt=case.number,
    ).values_list("points", "occurred_at")
    return [Offense(int(points), at) for points, at in rows]


async def set_pardoned(guild_id: int, number: int) -> Case:
    """Mark a case pardoned (its points stop counting); refuses cases without points."""
    case = await find_case(guild_id, number)
    if case.points <= 0:
        raise ValueError(f"case {number} carries no points to pardon")
    if not case.pardoned:
        case.pardoned = True
        await case.save(update_fields=["pardoned"])
    return case
