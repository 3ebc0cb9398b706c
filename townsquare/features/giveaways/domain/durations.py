"""Durations as people type them: `30m`, `2d`, `1h30m`, `90s`, `1w`."""

from __future__ import annotations

import re
import typing

__all__ = ["DurationError", "format_duration", "parse_duration"]

_UNITS: typing.Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_PART: typing.Final = re.compile(r"(\d{1,7})\s*([smhdw])")
_WHOLE: typing.Final = re.compile(r"^\s*(?:\d{1,7}\s*[smhdw]\s*)+$")


class DurationError(ValueError):
    """A duration that cannot be read, or out of the allowed range; the message says which."""


def parse_duration(text: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Seconds in `text` (`30m`, `2d`, `1h30m`; units s, m, h, d, w; case-insensitive).

    Raises :class:`DurationError` with words for the invoker when `text` is not a duration or
    lies outside `minimum`..`maximum` seconds.
    """
    lowered = text.lower()
    if not _WHOLE.match(lowered):
        raise DurationError(
            f"{text.strip()[:40]!r} is not a duration: write a number and a unit, "
            "such as 30m, 2h, 1d12h or 1w (s, m, h, d, w)"
        )
    seconds = sum(int(amount) * _UNITS[unit] for amount, unit in _PART.findall(lowered))
    if seconds < minimum:
        raise DurationError(
            f"{text.strip()} is too short: the shortest is {format_duration(minimum)}"
        )
    if maximum is not None and seconds > maximum:
        raise DurationError(
            f"{text.strip()} is too long: the longest is {format_duration(maximum)}"
        )
    return seconds


def format_duration(seconds: int) -> str:
    """`seconds` in the largest units, e.g. `1d 2h`, `30m`, `10s` (at most two units)."""
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2])
