"""Durations as moderators type them: `10m`, `2h`, `7d`, `1d12h`, `90s`, `2w`."""

from __future__ import annotations

import re
import typing

__all__ = ["MAX_TIMEOUT_SECONDS", "DurationError", "format_duration", "parse_duration"]

MAX_TIMEOUT_SECONDS: typing.Final = 28 * 86_400
"""Discord's longest timeout."""
_UNITS: typing.Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_PART = re.compile(r"(\d{1,6})\s*([smhdw])", re.IGNORECASE)
_WHOLE = re.compile(r"^(?:\s*\d{1,6}\s*[smhdw])+\s*$", re.IGNORECASE)


class DurationError(ValueError):
    """Text that is not a duration, with what a duration looks like."""


def parse_duration(text: str, *, maximum: int | None = None) -> int:
    """Seconds in `text`; refuses nonsense, zero, and anything above `maximum` seconds."""
    if not _WHOLE.match(text):
        raise DurationError(
            f"{text!r} is not a duration: use a number and a unit, like 10m, 2h, 7d or 1d12h"
        )
    seconds = sum(int(n) * _UNITS[unit.lower()] for n, unit in _PART.findall(text))
    if seconds <= 0:
        raise DurationError("a duration must be longer than zero")
    if maximum is not None and seconds > maximum:
        raise DurationError(
            f"{format_duration(seconds)} is too long: at most {format_duration(maximum)}"
        )
    return seconds


def format_duration(seconds: int) -> str:
    """`1d 2h`, `10m`, `28d`: the largest units, at most two."""
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and len(parts) < 2:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts) or "0s"
