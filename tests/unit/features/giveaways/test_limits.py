"""What a new giveaway asks the premium gate, and what the default catalogue answers."""

from __future__ import annotations

import pytest

from townsquare.core.premium import PremiumCatalogue
from townsquare.core.settings import load_settings
from townsquare.features.giveaways.domain.limits import (
    ACTIVE,
    DURATION_DAYS,
    REQUIREMENT_TYPES,
    WINNERS,
    LimitAsk,
    asks,
)
from townsquare.features.giveaways.domain.requirements import Requirements
from townsquare.features.giveaways.domain.service import MAX_DURATION_SECONDS, GiveawaySpec

DAY = 86_400


def spec(duration_seconds: int, winners: int = 1, **requirements: object) -> GiveawaySpec:
    return GiveawaySpec(
        prize="Mug",
        duration_seconds=duration_seconds,
        winners=winners,
        channel_id=10**17,
        host_id=10**17 + 1,
        requirements=Requirements.model_validate(requirements),
    )


@pytest.fixture
def catalogue() -> PremiumCatalogue:
    return PremiumCatalogue(load_settings(env_file=None, environ={}).premium)


def test_quantities_are_asked_as_usage_and_the_running_count_as_one_more() -> None:
    asked = asks(spec(30 * DAY + 3600, winners=6, min_level=3, min_member_seconds=DAY), active=2)
    assert asked == [
        LimitAsk(ACTIVE, 2, 1),
        LimitAsk(WINNERS, 6, 0),
        LimitAsk(REQUIREMENT_TYPES, 2, 0),
        LimitAsk(DURATION_DAYS, 31, 0),  # a started day counts
    ]
    assert [a.limit for a in asks(spec(600))] == [WINNERS, DURATION_DAYS]


@pytest.mark.parametrize(
    ("seconds", "tier", "allowed", "explained"),
    [
        (30 * DAY, "free", True, "30 of 30 days per giveaway on Free."),
        (30 * DAY + 1, "free", False, "31 of 30 days per giveaway on Free; Plus allows 90."),
        (91 * DAY, "plus", False, "91 of 90 days per giveaway on Plus; Pro has no limit."),
        (MAX_DURATION_SECONDS, "pro", True, "365 days per giveaway on Pro (no limit)."),
    ],
)
def test_the_duration_limit_per_tier(
    catalogue: PremiumCatalogue, seconds: int, tier: str, allowed: bool, explained: str
) -> None:
    [ask] = [a for a in asks(spec(seconds)) if a.limit == DURATION_DAYS]
    verdict = catalogue.verdict(catalogue.tier(tier), ask.limit, usage=ask.usage, adding=ask.adding)
    assert (verdict.allowed, verdict.explain()) == (allowed, explained)
