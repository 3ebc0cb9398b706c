"""The giveaway state machine (flows 3 and 4): scheduled -> running -> drawing -> claiming ->
ended, or cancelled, advanced only by conditional updates in PostgreSQL.

- :func:`mark_published`: scheduled -> running, once its message is up; opens the entries.
- :func:`end_giveaway`: running -> drawing (conditional: one caller wins; a caller finding
  `drawing` resumes a draw a killed worker left), closes and flushes the entries, draws, then
  drawing -> claiming (or ended) under the row's lock with the picks inserted in the same
  transaction. The draw is a pure function of the seed and the frozen entries, so a resumed
  or duplicated draw computes the same candidates; only the first commit counts.
- :func:`replace_winners`: a claim window that ran out, a winner who left, a host's reroll:
  the slot gets the next candidate of the same sequence (at most `max_rerolls` times per slot),
  committed only if nobody drew meanwhile (`next_position` unchanged) and the retired picks
  were still pending.
- :func:`claim`: pending -> claimed while the window is open.

Discord I/O (posting, announcing, DMs) is the tasks' business: they act on what was committed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import hashlib
import typing

from tortoise import Tortoise
from tortoise.transactions import in_transaction

from townsquare.features.giveaways.domain.draw import Draw
from townsquare.features.giveaways.domain.entries import (
    close_entries,
    flush_giveaway,
    open_entries,
)
from townsquare.features.giveaways.domain.models import (
    Giveaway,
    GiveawayPick,
    GiveawayState,
    PickOutcome,
)

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = [
    "MAX_SKIPS",
    "RECHECKS_AT_ONCE",
    "Check",
    "CheckOne",
    "ClaimResult",
    "Planned",
    "cancel",
    "claim",
    "end_giveaway",
    "entries_digest",
    "frozen_entries",
    "mark_published",
    "one_by_one",
    "open_for_entries",
    "replace_winners",
    "settle",
]

MAX_SKIPS: typing.Final = 200
"""Ineligible candidates one draw skips at most before leaving the rest of its slots empty."""
RECHECKS_AT_ONCE: typing.Final = 10
"""Candidates :func:`one_by_one` re-checks concurrently (each may be a Discord REST call)."""

type Check = Callable[[Sequence[int]], Awaitable[Sequence[str | None]]]
"""The re-check at draw time of a batch of candidates, all at once (the worker's asks Discord
for the whole batch in one gateway request): for each, in order, None when eligible, else the
reason (recorded)."""
type CheckOne = Callable[[int], Awaitable[str | None]]
"""One candidate's re-check (see :func:`one_by_one`)."""

ACTIVE: typing.Final = (GiveawayState.SCHEDULED, GiveawayState.RUNNING)
_ENTRIES_SQL: typing.Final = (
    "SELECT user_id, weight FROM giveaway_entries "
    "WHERE giveaway_id = $1 AND active ORDER BY user_id"
)


@dataclasses.dataclass(frozen=True, slots=True)
class Planned:
    """One drawn position before it is committed."""

    position: int
    user_id: int
    slot: int | None
    reason: str | None


class ClaimResult(typing.NamedTuple):
    outcome: typing.Literal["claimed", "already", "not_winner", "too_late", "gone"]
    pick: GiveawayPick | None


async def open_for_entries(
    redis: aioredis.Redis, keyspace: Keyspace, giveaway: Giveaway, message_id: int | None
) -> None:
    """Let clicks count (before the message is posted, so the first click already does)."""
    await open_entries(
        redis,
        keyspace,
        giveaway.id,
        giveaway.guild_id,
        dict(giveaway.requirements),
        message_id=message_id,
    )


async def mark_published(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    giveaway: Giveaway,
    message_id: int,
) -> bool:
    """scheduled -> running with its message; False (entries closed again) if it was cancelled
    meanwhile. The entries were opened before the message was posted."""
    await Giveaway.filter(id=giveaway.id, state=GiveawayState.SCHEDULED).update(
        state=GiveawayState.RUNNING, message_id=message_id
    )
    current = await Giveaway.get(id=giveaway.id)
    if current.state is not GiveawayState.RUNNING or current.message_id != message_id:
        await close_entries(redis, keyspace, giveaway.id, message_id)
        return False
    await open_for_entries(redis, keyspace, current, message_id)
    return True


async def cancel(
    redis: aioredis.Redis, keyspace: Keyspace, giveaway_id: int, reason: str
) -> Giveaway | None:
    """scheduled/running -> cancelled; None when it was past that (ended, already cancelled)."""
    changed = await Giveaway.filter(id=giveaway_id, state__in=ACTIVE).update(
        state=GiveawayState.CANCELLED, cancel_reason=reason[:300]
    )
    if not changed:
        return None
    cancelled = await Giveaway.get(id=giveaway_id)
    await close_entries(redis, keyspace, giveaway_id, cancelled.message_id)
    return cancelled


async def frozen_entries(giveaway_id: int) -> list[tuple[int, int]]:
    """The giveaway's active entries `(user_id, weight)`, sorted by user id."""
    # Raw SQL: the ORM's row objects cost half a second for 100,000 entries.
    _, rows = await Tortoise.get_connection("default").execute_query(_ENTRIES_SQL, [giveaway_id])
    return [(row["user_id"], row["weight"]) for row in rows]


def entries_digest(entries: Sequence[tuple[int, int]]) -> str:
    """SHA-256 of `user_id:weight` lines (sorted by user id, each ending in a newline)."""
    text = "".join(f"{user_id}:{weight}\n" for user_id, weight in entries)
    return hashlib.sha256(text.encode()).hexdigest()


def one_by_one(check: CheckOne, *, at_once: int = RECHECKS_AT_ONCE) -> Check:
    """A :data:`Check` from a one-candidate re-check, run `at_once` at a time."""
    limit = asyncio.Semaphore(at_once)

    async def one(user_id: int) -> str | None:
        async with limit:
            return await check(user_id)

    async def batch(user_ids: Sequence[int]) -> list[str | None]:
        return list(await asyncio.gather(*map(one, user_ids)))

    return batch


async def _plan(draw: Draw, start: int, slots: Sequence[int], check: Check) -> list[Planned]:
    """The positions from `start` on, in order: each candidate fills the next open slot, or is
    skipped with its reason; until every slot is filled, the pool is empty or more than
    MAX_SKIPS were skipped.

    The candidates' order does not depend on the re-checks, so as many candidates as slots are
    still open are drawn at once and re-checked in one `check` call (the worker's asks Discord
    for them all at once); then again for the slots their skips left open. A candidate drawn past
    the last recorded position is dropped with the `draw`, never recorded: a later reroll
    rebuilds its pool from the recorded picks and continues at the next position, so what is
    committed is exactly the sequential draw's."""
    planned: list[Planned] = []
    position, skips = start, 0
    open_slots = list(slots)
    while open_slots:
        batch: list[int] = []
        while len(batch) < len(open_slots):
            user_id = draw.candidate(position + len(batch))
            if user_id is None:
                break
            batch.append(user_id)
        if not batch:
            return planned
        reasons = await check(batch)
        for user_id, reason in zip(batch, reasons, strict=True):
            slot = None if reason else open_slots.pop(0)
            planned.append(Planned(position, user_id, slot, reason))
            position += 1
            if reason is not None:
                skips += 1
                if skips > MAX_SKIPS:
                    return planned
    return planned


def _pick_rows(
    giveaway: Giveaway, planned: Sequence[Planned], now: datetime.datetime
) -> list[GiveawayPick]:
    deadline = now + datetime.timedelta(seconds=giveaway.claim_window_seconds)
    return [
        GiveawayPick(
            giveaway_id=giveaway.id,
            position=p.position,
            user_id=p.user_id,
            slot=p.slot,
            outcome=PickOutcome.SKIPPED if p.reason else PickOutcome.PENDING,
            reason=p.reason,
            claim_deadline=None if p.reason else deadline,
        )
        for p in planned
    ]


async def end_giveaway(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    giveaway_id: int,
    check: Check,
    now: datetime.datetime,
    *,
    force: bool = False,
) -> Giveaway | None:
    """End the giveaway if due (or `force`d): returns it once this call committed the draw,
    None when there was nothing to do (not due, or ended or cancelled by someone else)."""
    giveaway = await Giveaway.get_or_none(id=giveaway_id)
    if giveaway is None:
        return None
    if giveaway.state is GiveawayState.RUNNING:
        if not force and giveaway.ends_at > now:
            return None
        await Giveaway.filter(id=giveaway_id, state=GiveawayState.RUNNING).update(
            state=GiveawayState.DRAWING, ended_at=now
        )
        giveaway = await Giveaway.get(id=giveaway_id)
    if giveaway.state is not GiveawayState.DRAWING:
        return None
    await close_entries(redis, keyspace, giveaway_id, giveaway.message_id)
    await flush_giveaway(redis, keyspace, giveaway_id)
    entries = await frozen_entries(giveaway_id)
    draw = Draw(giveaway.seed, entries)
    planned = await _plan(draw, 0, range(1, giveaway.winner_count + 1), check)
    winners = sum(1 for p in planned if p.reason is None)
    async with in_transaction() as connection:
        locked = await Giveaway.select_for_update().using_db(connection).get(id=giveaway_id)
        if locked.state is not GiveawayState.DRAWING:
            return None  # another worker committed this draw first
        await GiveawayPick.bulk_create(_pick_rows(locked, planned, now), using_db=connection)
        locked.state = GiveawayState.CLAIMING if winners else GiveawayState.ENDED
        locked.next_position = planned[-1].position + 1 if planned else 0
        locked.entry_count = len(entries)
        locked.entries_digest = entries_digest(entries)
        await locked.save(
            using_db=connection,
            update_fields=["state", "next_position", "entry_count", "entries_digest", "updated_at"],
        )
    return locked


async def replace_winners(
    giveaway_id: int,
    retire: dict[int, PickOutcome],
    check: Check,
    now: datetime.datetime,
    *,
    expected_position: int | None = None,
) -> list[GiveawayPick] | None:
    """Retire the pending picks at the positions of `retire` (as expired, left or replaced)
    and draw a replacement for each slot still allowed one; returns the new picks, or None
    when nothing was committed (someone else moved first, or nothing was pending).

    `expected_position`: commit only if the draw is still there (a host's reroll request
    names it, so a redelivered request rerolls nothing twice)."""
    giveaway = await Giveaway.get_or_none(id=giveaway_id)
    if giveaway is None or giveaway.state is not GiveawayState.CLAIMING:
        return None
    if expected_position is not None and giveaway.next_position != expected_position:
        return None
    picks = await GiveawayPick.filter(giveaway_id=giveaway_id).order_by("position")
    pending = {p.position: p for p in picks if p.outcome is PickOutcome.PENDING}
    retiring = {position: outcome for position, outcome in retire.items() if position in pending}
    if not retiring:
        return None
    slots = []
    for position in sorted(retiring):
        slot = pending[position].slot
        rerolls = sum(1 for p in picks if p.slot == slot) - 1
        if rerolls < giveaway.max_rerolls:
            slots.append(typing.cast("int", slot))
    draw = Draw(giveaway.seed, await frozen_entries(giveaway_id))
    draw.remove(p.user_id for p in picks)
    planned = await _plan(draw, giveaway.next_position, slots, check)
    try:
        rows = await _commit_replacements(giveaway, retiring, planned, now)
    except _MovedError:
        return None
    await settle(giveaway_id)
    return rows


class _MovedError(Exception):
    """Someone else changed the giveaway's picks first: this replacement is void."""


async def _commit_replacements(
    giveaway: Giveaway,
    retiring: dict[int, PickOutcome],
    planned: Sequence[Planned],
    now: datetime.datetime,
) -> list[GiveawayPick]:
    async with in_transaction() as connection:
        locked = await Giveaway.select_for_update().using_db(connection).get(id=giveaway.id)
        if (
            locked.state is not GiveawayState.CLAIMING
            or locked.next_position != giveaway.next_position
        ):
            raise _MovedError
        for position, outcome in retiring.items():
            changed = (
                await GiveawayPick.filter(
                    giveaway_id=giveaway.id, position=position, outcome=PickOutcome.PENDING
                )
                .using_db(connection)
                .update(outcome=outcome)
            )
            if not changed:  # claimed meanwhile: the transaction leaves everything as it was
                raise _MovedError
        rows = _pick_rows(locked, planned, now)
        await GiveawayPick.bulk_create(rows, using_db=connection)
        if planned:
            locked.next_position = planned[-1].position + 1
            await locked.save(using_db=connection, update_fields=["next_position", "updated_at"])
    return rows


async def settle(giveaway_id: int) -> bool:
    """claiming -> ended once no winner is pending; True when this call ended it."""
    if await GiveawayPick.filter(giveaway_id=giveaway_id, outcome=PickOutcome.PENDING).exists():
        return False
    changed = await Giveaway.filter(id=giveaway_id, state=GiveawayState.CLAIMING).update(
        state=GiveawayState.ENDED
    )
    return bool(changed)


async def claim(giveaway_id: int, user_id: int, now: datetime.datetime) -> ClaimResult:
    """The winner `user_id` claims their prize: pending -> claimed while the window is open."""
    pick = (
        await GiveawayPick.filter(giveaway_id=giveaway_id, user_id=user_id, slot__isnull=False)
        .order_by("-position")
        .first()
    )
    if pick is None:
        return ClaimResult("not_winner", None)
    if pick.outcome is PickOutcome.CLAIMED:
        return ClaimResult("already", pick)
    if pick.outcome is not PickOutcome.PENDING:
        return ClaimResult("gone", pick)
    if pick.claim_deadline is not None and pick.claim_deadline <= now:
        return ClaimResult("too_late", pick)
    changed = await GiveawayPick.filter(id=pick.id, outcome=PickOutcome.PENDING).update(
        outcome=PickOutcome.CLAIMED, claimed_at=now
    )
    if not changed:
        return await claim(giveaway_id, user_id, now)  # it moved meanwhile: answer what it is
    await settle(giveaway_id)
    pick.outcome, pick.claimed_at = PickOutcome.CLAIMED, now
    return ClaimResult("claimed", pick)
