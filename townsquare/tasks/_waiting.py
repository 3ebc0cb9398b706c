"""Sleeping that a shutdown interrupts."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["wait_or_stop"]


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds`; True as soon as `stop` is set."""
    if seconds > 0 and not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
