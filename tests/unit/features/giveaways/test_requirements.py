"""Entry requirements: refusals in words, bonus entries, what the premium limit counts."""

from __future__ import annotations

import datetime

import pytest
from pydantic import ValidationError

from townsquare.core.snowflakes import DISCORD_EPOCH_MS
from townsquare.features.giveaways.domain.requirements import (
    MemberFacts,
    Requirements,
    account_created_at,
)

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
NAMES = {10: "Regular", 11: "Booster", 12: "Muted", 13: "Veteran"}


def user_made(days_ago: float) -> int:
    ms = int((NOW - datetime.timedelta(days=days_ago)).timestamp() * 1000)
    return (ms - DISCORD_EPOCH_MS) << 22


def member(
    roles: set[int], *, level: int = 0, days_ago: float = 400, joined: float = 30
) -> MemberFacts:
    return MemberFacts(
        user_made(days_ago), frozenset(roles), NOW - datetime.timedelta(days=joined), level
    )


def test_the_account_age_is_the_time_in_the_snowflake() -> None:
    assert account_created_at(user_made(3)) == NOW - datetime.timedelta(days=3)


def test_every_refusal_in_words() -> None:
    rules = Requirements(
        required_role_ids=[10, 13],
        required_roles_mode="all",
        excluded_role_ids=[12],
        min_level=5,
        min_account_age_seconds=7 * 86_400,
        min_member_seconds=86_400,
    )
    refusals = rules.refusals(
        member({10, 12}, level=3, days_ago=2, joined=0.5), NOW, NAMES.__getitem__
    )
    assert refusals == [
        "members with the Muted role can't enter",
        "needs the Veteran role",
        "needs level 5, you are level 3",
        "needs an account at least 1w old, yours is 2d old",
        "needs 1d in the server, you have been here 12h",
    ]
    assert rules.refusals(member({10, 13}, level=5), NOW, NAMES.__getitem__) == []
    assert rules.kinds() == [
        "required roles",
        "excluded roles",
        "minimum level",
        "minimum account age",
        "minimum time in the server",
    ]


def test_any_of_the_roles_will_do_in_any_mode() -> None:
    rules = Requirements(required_role_ids=[10, 13])
    assert rules.refusals(member({13}), NOW, NAMES.__getitem__) == []
    assert rules.refusals(member(set()), NOW, NAMES.__getitem__) == [
        "needs the Regular or Veteran role"
    ]


def test_bonus_entries_add_up_per_role_held() -> None:
    rules = Requirements(bonus_entries={11: 2, 13: 3})
    assert rules.weight({11, 13}) == 6
    assert rules.weight({11}) == 3
    assert rules.weight(set()) == 1
    assert rules.kinds() == []


def test_a_role_both_required_and_excluded_is_refused() -> None:
    with pytest.raises(ValidationError, match="both required and excluded"):
        Requirements(required_role_ids=[10], excluded_role_ids=[10])
