"""The draw against the independent reference of docs/giveaways.md, and its rules."""

from __future__ import annotations

import asyncio
import hashlib
import random
import typing

import pytest

from tests.support.giveaways import candidate_order
from townsquare.features.giveaways.domain.draw import (
    Draw,
    DrawError,
    commitment,
    new_seed,
    position_number,
)
from townsquare.features.giveaways.domain.lifecycle import (
    MAX_SKIPS,
    RECHECKS_AT_ONCE,
    _plan,
    one_by_one,
)

SEED = "00" * 31 + "2a"


@pytest.mark.parametrize("case", range(40))
def test_the_draw_matches_the_reference_for_random_weighted_entries(case: int) -> None:
    rng = random.Random(case)
    users = sorted(rng.sample(range(1, 2**63), rng.randint(1, 80)))
    entries = [(user, rng.randint(1, 5)) for user in users]
    seed = new_seed()
    draw = Draw(seed, entries)
    drawn = [draw.candidate(position) for position in range(len(entries))]
    assert drawn == candidate_order(seed, entries)
    assert draw.candidate(len(entries)) is None


def test_resuming_after_removing_earlier_candidates_continues_the_same_sequence() -> None:
    entries = [(user, 1 + user % 3) for user in range(1, 200)]
    order = candidate_order(SEED, entries)
    resumed = Draw(SEED, entries)
    resumed.remove(order[:50])
    assert [resumed.candidate(position) for position in range(50, 60)] == order[50:60]


def test_the_commitment_and_the_position_numbers_are_sha256_of_the_seed() -> None:
    assert commitment(SEED) == hashlib.sha256(bytes.fromhex(SEED)).hexdigest()
    expected = hashlib.sha256(bytes.fromhex(SEED) + (7).to_bytes(8, "big")).digest()
    assert position_number(SEED, 7) == int.from_bytes(expected, "big")
    assert len(new_seed()) == 64 and new_seed() != new_seed()


def test_weights_bias_the_draw_as_they_should() -> None:
    """A member with 9 entries against nine with 1 wins the first position about half the time."""
    entries = [(1, 9), *((user, 1) for user in range(2, 11))]
    firsts = sum(Draw(new_seed(), entries).candidate(0) == 1 for _ in range(4000))
    assert 1800 < firsts < 2200


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ([(2, 1), (1, 1)], "sorted"),
        ([(1, 1), (1, 1)], "sorted"),
        ([(1, 0)], "at least 1"),
    ],
)
def test_entries_that_break_the_rules_are_refused(
    entries: list[tuple[int, int]], problem: str
) -> None:
    with pytest.raises(DrawError, match=problem):
        Draw(SEED, entries)


def test_a_seed_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(DrawError, match="32 bytes"):
        Draw("abcd", [(1, 1)])


def test_an_empty_pool_draws_nobody() -> None:
    assert Draw(SEED, []).candidate(0) is None


def _sequential_plan(
    seed: str, entries: list[tuple[int, int]], slots: list[int], ineligible: set[int]
) -> list[tuple[int, int, int | None]]:
    """The plan as one re-check after another would make it: (position, user, slot)."""
    order = candidate_order(seed, entries)
    plan: list[tuple[int, int, int | None]] = []
    position, skips, open_slots = 0, 0, list(slots)
    while open_slots and position < len(order) and skips <= MAX_SKIPS:
        user = order[position]
        if user in ineligible:
            plan.append((position, user, None))
            skips += 1
        else:
            plan.append((position, user, open_slots.pop(0)))
        position += 1
    return plan


@pytest.mark.parametrize(
    ("case", "size", "winners", "skip_share"),
    [
        (0, 60, 5, 0.1),
        (1, 60, 20, 0.5),
        (2, 12, 20, 0.3),  # the pool runs dry
        (3, 400, 3, 1.0),  # more than MAX_SKIPS skipped: the draw stops
        (4, 30, 4, 0.0),
    ],
)
async def test_concurrent_rechecks_plan_exactly_the_sequential_draw(
    case: int, size: int, winners: int, skip_share: float
) -> None:
    rng = random.Random(case)
    entries = [(user, rng.randint(1, 4)) for user in sorted(rng.sample(range(1, 2**40), size))]
    ineligible = {user for user, _ in entries if rng.random() < skip_share}
    slots = list(range(1, winners + 1))
    in_flight, most = 0, 0

    async def check(user_id: int) -> str | None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0)
        in_flight -= 1
        return "needs the Regular role" if user_id in ineligible else None

    planned = await _plan(Draw(SEED, entries), 0, slots, one_by_one(check))
    assert [(p.position, p.user_id, p.slot) for p in planned] == _sequential_plan(
        SEED, entries, slots, ineligible
    )
    assert all((p.reason is None) == (p.user_id not in ineligible) for p in planned)
    assert most <= RECHECKS_AT_ONCE
    if winners >= RECHECKS_AT_ONCE:
        assert most == RECHECKS_AT_ONCE, "the re-checks of one round run at once"


@pytest.mark.parametrize(
    ("case", "size", "winners", "skip_share"),
    [(5, 300, 100, 0.1), (6, 60, 20, 0.5), (7, 12, 20, 0.3), (8, 400, 3, 1.0)],
)
async def test_batched_rechecks_plan_exactly_the_sequential_draw(
    case: int, size: int, winners: int, skip_share: float
) -> None:
    """The worker re-checks a whole batch in one gateway request: each batch is as large as
    the slots still open, and the plan is the sequential draw's."""
    rng = random.Random(case)
    entries = [(user, rng.randint(1, 4)) for user in sorted(rng.sample(range(1, 2**40), size))]
    ineligible = {user for user, _ in entries if rng.random() < skip_share}
    slots = list(range(1, winners + 1))
    batches: list[int] = []

    async def check(user_ids: typing.Sequence[int]) -> list[str | None]:
        batches.append(len(user_ids))
        return ["left the server" if u in ineligible else None for u in user_ids]

    planned = await _plan(Draw(SEED, entries), 0, slots, check)
    assert [(p.position, p.user_id, p.slot) for p in planned] == _sequential_plan(
        SEED, entries, slots, ineligible
    )
    assert batches[0] == min(winners, size)
    assert sum(batches) >= len(planned)
