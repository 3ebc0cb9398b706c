"""The stream entry behind the task that is running now.

taskiq hands middlewares a parsed message but not the stream entry it came from, so a
middleware cannot acknowledge the entry in the same Redis transaction that re-queues or
dead-letters it. The worker's receiver fills that gap: around each message it sets (with
:func:`delivering`) a context variable holding the raw bytes (what a retry or a dead letter
must carry, before taskiq parses arguments in place) and the entry's :class:`StreamAck`. Each
message runs in its own asyncio task, so the variable never leaks from one job to another.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import typing

import structlog

from townsquare.core.redis_health import is_unavailable

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

__all__ = ["ACK_RETRY_MAX_SECONDS", "Delivery", "StreamAck", "current_delivery", "delivering"]

ACK_RETRY_MAX_SECONDS: typing.Final = 5.0
"""Longest pause between two tries of an acknowledgement while Redis does not answer."""

logger = structlog.get_logger(__name__)


class StreamAck:
    """Acknowledges one stream entry at most once.

    The broker gives one to every entry it yields. A middleware that acknowledged the entry
    itself (atomically with a retry or a dead letter) calls :meth:`settle`, which makes
    taskiq's own acknowledgement afterwards a no-op; :meth:`hold` does the same without
    acknowledging, so the entry stays pending for another worker to reclaim.
    """

    __slots__ = ("_ack", "_on_settled", "held", "message_id", "settled")

    def __init__(
        self,
        message_id: str,
        ack: Callable[[str], Awaitable[None]],
        on_settled: Callable[[StreamAck], None],
    ) -> None:
        self.message_id = message_id
        self.settled = False
        self.held = False
        """Left pending on purpose (:meth:`hold`), for a reclaim elsewhere."""
        self._ack = ack
        self._on_settled = on_settled

    async def __call__(self) -> None:
        """Acknowledge the entry. While Redis does not answer, try again (pausing up to
        :data:`ACK_RETRY_MAX_SECONDS`) with the entry still in flight, so its claim is renewed
        and no other worker runs the finished job again; a stopping worker is cancelled here
        and the entry is reclaimed elsewhere."""
        if self.settled:
            return
        pause = 0.1
        while True:
            try:
                await self._ack(self.message_id)
            except Exception as error:
                if not is_unavailable(error):
                    raise
                logger.warning("tasks.ack_failed", entry_id=self.message_id, retry_in_seconds=pause)
                await asyncio.sleep(pause)
                pause = min(ACK_RETRY_MAX_SECONDS, pause * 2)
            else:
                self.settle()
                return

    def settle(self) -> None:
        """Mark the entry as dealt with elsewhere; later calls acknowledge nothing."""
        if not self.settled:
            self.settled = True
            self._on_settled(self)

    def hold(self) -> None:
        """Leave the entry pending (no acknowledgement, no renewal) for a reclaim elsewhere."""
        if not self.settled:
            self.held = True
        self.settle()


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery:
    """One message as it arrived."""

    raw: bytes
    """The message exactly as queued (taskiq's JSON), before any parsing."""
    ack: StreamAck | None
    """The stream entry's acknowledgement, when the message came from a pipeline stream."""


_CURRENT: contextvars.ContextVar[Delivery | None] = contextvars.ContextVar(
    "townsquare_delivery", default=None
)


def current_delivery() -> Delivery | None:
    """The delivery of the task running in this asyncio task, if any."""
    return _CURRENT.get()


@contextlib.contextmanager
def delivering(delivery: Delivery) -> Iterator[Delivery]:
    """Make `delivery` the current one for the code inside the block."""
    token = _CURRENT.set(delivery)
    try:
        yield delivery
    finally:
        _CURRENT.reset(token)
