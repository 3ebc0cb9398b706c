"""When a click's answer is deferred: after 1.5 s of work, and no later than 2 s after Discord
created the interaction, so a shard that is behind still answers within Discord's 3 s."""

from __future__ import annotations

import datetime

import pytest

from townsquare.features.giveaways.commands.buttons import defer_budget

CREATED = datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("age", "budget"),
    [
        (0.05, 1.5),  # a fresh click: the work gets 1.5 s
        (1.0, 1.0),  # arrived a second late: deferred 2 s after its creation
        (2.5, 0.0),  # later than that: deferred at once
        (-4.0, 1.5),  # a clock behind Discord's never waits longer
    ],
)
def test_the_deferral_counts_from_the_interaction_s_creation(age: float, budget: float) -> None:
    now = CREATED + datetime.timedelta(seconds=age)
    assert defer_budget(CREATED, now) == pytest.approx(budget)
