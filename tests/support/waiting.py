"""Waiting for a condition with a deadline: the tests' only way to synchronise (no sleeps)."""

from __future__ import annotations

import asyncio
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["wait_until"]


async def wait_until(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    within: float,
    interval: float = 0.02,
    what: str = "condition",
) -> float:
    """Poll `check` until it holds; returns the seconds it took, fails after `within`."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        outcome = check()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return loop.time() - started
        if loop.time() - started > within:
            raise AssertionError(f"{what} not reached within {within} s")
        await asyncio.sleep(interval)
