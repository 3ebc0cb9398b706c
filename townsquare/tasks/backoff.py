"""Retry delays: exponential backoff with equal jitter.

Why equal jitter and not full jitter: full jitter (`rand(0, d)`) can pick a delay near zero
for any attempt, so nothing guarantees that a failing job backs off at all. Equal jitter
(`d/2 + rand(0, d/2)`) keeps half of the exponential step and randomises the other half.
The randomness still spreads out workers that failed together (a thundering herd after an
outage), and every delay is at least half its ceiling. Until the ceiling reaches the
maximum, the shortest possible delay after attempt n+1 equals the longest possible after
attempt n (`d(n+1)/2 = d(n)`), so delays never shrink; past it they stay in `[max/2, max]`.
"""

from __future__ import annotations

import random
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["backoff_ceiling", "retry_delay"]


def backoff_ceiling(attempt: int, base: float, maximum: float) -> float:
    """The longest delay after failed attempt `attempt` (1-based): `min(max, base * 2**(n-1))`."""
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
    if base <= 0 or maximum <= 0:
        raise ValueError(f"backoff base and maximum must be positive, got {base} and {maximum}")
    # Cap the exponent first: 2**1000 would overflow a float long before min() could help.
    exponent = min(attempt - 1, 64)
    return min(maximum, base * 2.0**exponent)


def retry_delay(
    attempt: int,
    base: float,
    maximum: float,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after failed attempt `attempt`: uniform in `[ceiling/2, ceiling]`.

    `rand` returns a float in [0, 1); tests pass a fixed one to pin the result.
    """
    ceiling = backoff_ceiling(attempt, base, maximum)
    return ceiling / 2 + rand() * ceiling / 2
