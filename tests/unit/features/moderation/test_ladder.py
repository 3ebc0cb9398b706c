"""Active points with expiry and halving, and which ladder step an offense crosses."""

from __future__ import annotations

import datetime

from townsquare.features.moderation.domain.ladder import Offense, Step, active_points, crossed_step

T0 = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)
STEPS = [
    Step(1, "warn", 0),
    Step(3, "timeout", 600),
    Step(5, "timeout", 86_400),
    Step(7, "kick", 0),
]


def test_points_expire_after_the_expiry() -> None:
    offenses = [Offense(2, T0), Offense(1, T0 + 10 * DAY)]
    assert active_points(offenses, T0 + 29 * DAY, expiry_days=30, half_life_days=None) == 3
    assert active_points(offenses, T0 + 30 * DAY, expiry_days=30, half_life_days=None) == 1


def test_points_halve_every_period_in_whole_periods() -> None:
    offenses = [Offense(4, T0)]
    at = [
        active_points(offenses, T0 + d * DAY, expiry_days=365, half_life_days=7)
        for d in (0, 6, 7, 13, 14, 21)
    ]
    assert at == [4, 4, 2, 2, 1, 0.5]


def test_an_offense_dated_later_counts_in_full() -> None:
    assert active_points([Offense(3, T0 + DAY)], T0, expiry_days=30, half_life_days=7) == 3


def test_the_highest_crossed_step_applies() -> None:
    assert crossed_step(STEPS, 0, 1) == STEPS[0]
    assert crossed_step(STEPS, 1, 2) is None
    assert crossed_step(STEPS, 2, 6) == STEPS[2]
    assert crossed_step(STEPS, 2.5, 3.5) == STEPS[1]
    assert crossed_step(STEPS, 7, 9) is None
