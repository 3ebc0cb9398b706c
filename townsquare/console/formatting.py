"""Short renderings of numbers, ages and trends for 80-column tables."""

from __future__ import annotations

import datetime
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["age", "count", "number", "sparkline", "until", "when"]

_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int = 10) -> str:
    """The last `width` values as block characters, scaled to their own maximum."""
    recent = list(values)[-width:]
    if not recent:
        return ""
    top = max(recent)
    if top <= 0:
        return _BARS[0] * len(recent)
    return "".join(_BARS[min(len(_BARS) - 1, int(v / top * (len(_BARS) - 1)))] for v in recent)


def age(seconds: float | None) -> str:
    """`4s`, `12m`, `3h`, `2d`; `-` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


def number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}"


def count(value: int | None) -> str:
    """Counts with thousands shortened: `950`, `12.3k`, `4.1M`."""
    if value is None:
        return "-"
    if value < 10_000:
        return str(value)
    if value < 1_000_000:
        return f"{value / 1000:.1f}k"
    return f"{value / 1_000_000:.1f}M"


def when(at: datetime.datetime | None) -> str:
    """A UTC time as `MM-DD HH:MM`."""
    return "-" if at is None else at.astimezone(datetime.UTC).strftime("%m-%d %H:%M")


def until(at: datetime.datetime | None, now: datetime.datetime) -> str:
    """Time left until `at` (`in 3d`), or since (`5h ago`); `never` for no end."""
    if at is None:
        return "never"
    seconds = (at - now).total_seconds()
    return f"in {age(seconds)}" if seconds >= 0 else f"{age(-seconds)} ago"
