"""Escalation with decay (flow 5): the active points of a member, and the ladder's step.

Each offense counts its points for `offense_expiry_days`; with `points_half_life_days` set,
its points also halve every that many days (whole periods, so a total never wobbles between two
messages). The active total is computed at the time of the new offense (a message's time for
automod), over the offenses recorded before it, from their own times: never from the worker's
clock, so a late batch is judged as if on time.

A step applies when an offense carries the total from below its threshold to at or above it;
when one offense crosses several, the highest crossed applies. Timeouts on the ladder must grow
with each step (progressive), which the configuration checks.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ["Offense", "Step", "active_points", "crossed_step"]


@dataclasses.dataclass(frozen=True, slots=True)
class Offense:
    points: int
    at: datetime.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    threshold: int
    action: typing.Literal["warn", "timeout", "kick", "ban"]
    duration_seconds: int


def weight(
    offense: Offense,
    at: datetime.datetime,
    *,
    expiry_days: int,
    half_life_days: int | None,
) -> float:
    """What `offense` still counts at time `at` (0 once expired). An offense recorded earlier
    but dated later (messages judged out of order) counts in full."""
    age = max(at - offense.at, datetime.timedelta(0))
    if age >= datetime.timedelta(days=expiry_days):
        return 0.0
    if half_life_days is None:
        return float(offense.points)
    halvings = age // datetime.timedelta(days=half_life_days)
    return offense.points * 0.5**halvings


def active_points(
    offenses: Iterable[Offense],
    at: datetime.datetime,
    *,
    expiry_days: int,
    half_life_days: int | None,
) -> float:
    return sum(
        weight(o, at, expiry_days=expiry_days, half_life_days=half_life_days) for o in offenses
    )


def crossed_step(steps: Sequence[Step], before: float, after: float) -> Step | None:
    """The highest step whose threshold lies in (before, after], or None."""
    crossed = [s for s in steps if before < s.threshold <= after]
    return max(crossed, key=lambda s: s.threshold, default=None)
