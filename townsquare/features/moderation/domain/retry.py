"""The pending-case sweep: a case whose Discord action never completed is carried out again.

A case stays `pending` when Discord failed transiently (5xx after hikari's own retries, a
timeout, Discord unreachable) or the process died between recording and confirming. Discord
refusing (4xx) is `failed` at once and never retried. Every minute (`moderation-retry-pending`)
the sweep claims up to :data:`BATCH` cases pending for more than :data:`SETTLE` (so an action
still in flight is left to its caller), oldest first, in one statement (`FOR UPDATE SKIP
LOCKED`, and a claim until :data:`CLAIM` later), so two sweeps never take the same case; each
is carried out through the guard with the request rebuilt from the case (the guard finishes a
pending case without deciding again), then the ladder as for any offense. A case that fails
:data:`MAX_ATTEMPTS` sweeps is marked `failed`, saying so.

Idempotent: the guard executes a pending case's action, which Discord's state makes harmless
to repeat (a ban or timeout set twice is one), and its key makes the ladder step once.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing

import aiohttp
import hikari
import structlog
from tortoise import connections

from townsquare.core.guard.actions import Action, ActionRequest, ActorKind, Source
from townsquare.core.guard.models import Case, CaseStatus, DMStatus
from townsquare.features.moderation.domain.enforce import enforce

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from townsquare.core.guard.guard import GuardContext
    from townsquare.features.moderation.domain.config import ModerationSection

__all__ = ["BATCH", "CLAIM", "MAX_ATTEMPTS", "SETTLE", "Swept", "request_of", "retry_pending"]

_log = structlog.get_logger(__name__)

BATCH: typing.Final = 50
"""Cases taken up per sweep (a minute's work stays bounded)."""
SETTLE: typing.Final = datetime.timedelta(seconds=60)
"""A case pending for less than this may still be in flight."""
CLAIM: typing.Final = datetime.timedelta(minutes=5)
"""A claimed case is not taken up again before this (a sweep that died left it)."""
MAX_ATTEMPTS: typing.Final = 5

_CLAIM_SQL: typing.Final = """
UPDATE moderation_cases SET attempts = attempts + 1, retry_at = $1
WHERE id IN (
  SELECT id FROM moderation_cases
  WHERE status = 'pending' AND recorded_at < $2 AND (retry_at IS NULL OR retry_at <= $3)
  ORDER BY recorded_at, id LIMIT $4 FOR UPDATE SKIP LOCKED
)
RETURNING id
"""
_TRANSIENT: typing.Final = (hikari.HikariError, aiohttp.ClientError, TimeoutError, OSError)


@dataclasses.dataclass(frozen=True, slots=True)
class Swept:
    """What one sweep did."""

    done: int = 0
    """Carried out (or ended as Discord answered: executed or refused)."""
    still_pending: int = 0
    gave_up: int = 0


def request_of(case: Case) -> ActionRequest:
    """The request that made `case`, as far as carrying it out needs."""
    message_ids = tuple(case.message_ids) or ((case.message_id,) if case.message_id else ())
    return ActionRequest(
        guild_id=case.guild_id,
        action=Action(case.action),
        target_id=case.target_id,
        key=case.key,
        source=Source(case.source),
        actor_kind=ActorKind(case.actor_kind),
        actor_id=case.actor_id,
        actor_name=case.actor_name,
        reason=case.reason,
        occurred_at=case.occurred_at,
        duration_seconds=case.duration_seconds,
        delete_message_seconds=case.delete_message_seconds,
        channel_id=case.channel_id,
        message_ids=message_ids,
        content=case.content,
        points=case.points,
        purge_count=case.purge_count,
    )


async def _claim(now: datetime.datetime, batch: int) -> list[Case]:
    rows = await connections.get("default").execute_query_dict(
        _CLAIM_SQL, [now + CLAIM, now - SETTLE, now, batch]
    )
    ids = [int(row["id"]) for row in rows]
    return await Case.filter(id__in=ids).order_by("recorded_at", "id") if ids else []


async def retry_pending(
    now: datetime.datetime,
    context_of: Callable[[int], Awaitable[tuple[GuardContext, ModerationSection]]],
    *,
    batch: int = BATCH,
) -> Swept:
    """Claim and carry out up to `batch` pending cases (see the module docs)."""
    done = still = gave_up = 0
    for case in await _claim(now, batch):
        if case.attempts > MAX_ATTEMPTS:
            case.status = CaseStatus.FAILED
            case.detail = f"gave up after {MAX_ATTEMPTS} retries: Discord did not answer"
            if case.dm_status == DMStatus.PENDING:
                case.dm_status = DMStatus.NONE
            await case.save(update_fields=["status", "detail", "dm_status"])
            gave_up += 1
            continue
        context, section = await context_of(case.guild_id)
        try:
            enforced = await enforce(request_of(case), context, section)
        except _TRANSIENT as error:
            _log.warning(
                "moderation.retry_failed",
                guild_id=case.guild_id,
                case=case.number,
                attempt=case.attempts,
                error=str(error),
            )
            still += 1
            continue
        done += enforced.outcome.status != CaseStatus.PENDING
    return Swept(done, still, gave_up)
