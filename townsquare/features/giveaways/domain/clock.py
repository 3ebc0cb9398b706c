"""The giveaways' clock: every due time (start, end, claim window) is read from it.

It is the wall clock (UTC) plus :attr:`Clock.offset_seconds`, which stays 0 in production.
The end-to-end tests run the shards, the HTTP service and the workers in their own process and
move time forward by raising the offset, so a claim window of five minutes passes at once.
"""

from __future__ import annotations

import datetime
import typing

__all__ = ["CLOCK", "Clock"]


class Clock:
    """UTC now, shifted by `offset_seconds`."""

    __slots__ = ("offset_seconds",)

    def __init__(self) -> None:
        self.offset_seconds = 0.0

    def now(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=self.offset_seconds)

    def advance(self, seconds: float) -> None:
        """Move time forward (tests)."""
        self.offset_seconds += seconds


CLOCK: typing.Final = Clock()
