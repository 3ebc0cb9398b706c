"""Durations as hosts type them."""

from __future__ import annotations

import pytest

from townsquare.features.giveaways.domain.durations import (
    DurationError,
    format_duration,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30m", 1800),
        ("2d", 172_800),
        ("1h30m", 5400),
        ("1H 30M", 5400),
        ("90s", 90),
        ("1w", 604_800),
        ("1d12h", 129_600),
        (" 10s ", 10),
    ],
)
def test_durations_are_read(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "m", "30 minutes", "1y", "-5m", "1.5h", "5m later"])
def test_what_is_not_a_duration_says_how_to_write_one(text: str) -> None:
    with pytest.raises(DurationError, match="write a number and a unit, such as 30m"):
        parse_duration(text)


def test_the_range_is_enforced_in_words() -> None:
    with pytest.raises(DurationError, match="5s is too short: the shortest is 10s"):
        parse_duration("5s", minimum=10)
    with pytest.raises(DurationError, match="61d is too long: the longest is 8w 4d"):
        parse_duration("61d", minimum=10, maximum=60 * 86_400)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (10, "10s"), (90, "1m 30s"), (90_061, "1d 1h"), (604_800, "1w")],
)
def test_durations_are_shown_in_two_units_at_most(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text
