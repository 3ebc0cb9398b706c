"""Deterministic Discord snowflakes.

A snowflake is `(ms since the Discord epoch) << 22 | worker << 17 | process << 12 | increment`.
The factory reads a clock that the caller supplies, never moves backwards and counts within a
millisecond, so the same clock readings always give the same ids.
"""

from __future__ import annotations

import datetime
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DISCORD_EPOCH_MS", "SnowflakeFactory", "snowflake_time"]

DISCORD_EPOCH_MS: typing.Final[int] = 1_420_070_400_000
_INCREMENT_BITS: typing.Final[int] = 12


def snowflake_time(snowflake: int) -> datetime.datetime:
    """The moment a snowflake was made."""
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)


class SnowflakeFactory:
    """Makes unique, increasing snowflakes from a clock."""

    __slots__ = ("_clock", "_increment", "_last_ms", "_worker")

    def __init__(self, clock: Callable[[], datetime.datetime], *, worker: int = 1) -> None:
        self._clock = clock
        self._worker = worker & 0x1F
        self._last_ms = 0
        self._increment = 0

    def next(self) -> int:
        """The next snowflake; strictly greater than every earlier one."""
        ms = int(self._clock().timestamp() * 1000) - DISCORD_EPOCH_MS
        if ms > self._last_ms:
            self._last_ms = ms
            self._increment = 0
        else:
            self._increment += 1
            if self._increment >> _INCREMENT_BITS:
                self._last_ms += 1
                self._increment = 0
        return (self._last_ms << 22) | (self._worker << 17) | self._increment
