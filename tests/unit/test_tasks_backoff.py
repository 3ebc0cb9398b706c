"""Retry delays: exponential ceiling, capped, with equal jitter in [ceiling/2, ceiling]."""

from __future__ import annotations

import random

import pytest

from townsquare.tasks.backoff import backoff_ceiling, retry_delay


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (7, 30.0), (10_000, 30.0)],
)
def test_ceiling_doubles_per_attempt_up_to_the_maximum(attempt: int, expected: float) -> None:
    assert backoff_ceiling(attempt, 0.5, 30.0) == expected


def test_delay_spans_half_to_full_ceiling() -> None:
    assert retry_delay(3, 1.0, 60.0, rand=lambda: 0.0) == 2.0
    assert retry_delay(3, 1.0, 60.0, rand=lambda: 0.999_999) == pytest.approx(4.0, abs=1e-5)
    assert retry_delay(3, 1.0, 60.0, rand=lambda: 0.5) == 3.0


def test_delays_never_shrink_until_the_cap() -> None:
    # Worst case for growth: the largest draw on attempt n, the smallest on attempt n+1.
    # Holds while the next ceiling is still a doubling (0.05 * 2**4 = 0.8 <= 1.0).
    for attempt in range(1, 5):
        longest_now = retry_delay(attempt, 0.05, 1.0, rand=lambda: 0.999_999)
        shortest_next = retry_delay(attempt + 1, 0.05, 1.0, rand=lambda: 0.0)
        assert shortest_next >= longest_now - 1e-6
    # At the cap delays stay in [max/2, max].
    assert retry_delay(40, 0.05, 1.0, rand=lambda: 0.0) == 0.5


def test_random_delays_stay_within_bounds() -> None:
    rng = random.Random(7)
    for attempt in range(1, 20):
        ceiling = backoff_ceiling(attempt, 0.2, 10.0)
        for _ in range(50):
            assert ceiling / 2 <= retry_delay(attempt, 0.2, 10.0, rng.random) <= ceiling


@pytest.mark.parametrize(
    ("attempt", "base", "maximum"), [(0, 1.0, 1.0), (1, 0.0, 1.0), (1, 1.0, -1)]
)
def test_bad_arguments_are_refused(attempt: int, base: float, maximum: float) -> None:
    with pytest.raises(ValueError, match=r"attempt|positive"):
        backoff_ceiling(attempt, base, maximum)
