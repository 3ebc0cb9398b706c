"""Batches records into pipeline streams without ever making the gateway wait on Redis.

The gateway's event handlers call :meth:`BatchPublisher.submit`, which only appends to an
in-memory buffer. A background task (:meth:`BatchPublisher.run`) publishes: a batch is due
when `batch_size` records are waiting or the oldest waiting record is `batch_ms` old. Each
batch becomes one stream entry per pipeline, a job `task_name(records)` in the wire format of
`townsquare.core.events.encode_job`, and every due batch of one flush goes to Redis in one
round trip.

When Redis is unreachable the records stay buffered and the flush is retried with backoff.
The buffer holds at most `buffer_limit` records; beyond that the oldest are dropped and
counted (`drops`). Records of a batch that was in flight when they were pushed out count as
dropped only if that batch then failed; if it was delivered, they were not lost. Delivery is
at least once: a round trip that fails after Redis applied it is sent again, and workers
deduplicate (by message id).

Marks tell the gateway how far it is safe to resume from: :meth:`BatchPublisher.mark` notes
"every record of shard S's dispatches up to this one has been submitted", at the buffer's
current end; once every record before that point has left the buffer (delivered, or dropped
while Redis was away), `delivered_marks[S]` becomes that mark and `marks_changed` is set. A
mark never passes a record still waiting, so a sequence recorded from `delivered_marks` never
runs ahead of the streams.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import contextlib
import time
import typing

import structlog

from townsquare.core.events import encode_job

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = ["BatchPublisher", "Mark", "RedisStreamTransport", "StreamEntry", "StreamTransport"]

_log = structlog.get_logger(__name__)

StreamEntry = tuple[str, bytes]
"""`(pipeline, job)`: one XADD into the pipeline's stream."""

Mark = typing.Hashable
"""What :meth:`BatchPublisher.mark` is given; opaque to the publisher (the shards pass a
gateway position: session id, resume URL, sequence)."""

MAX_BATCHES_PER_ROUND_TRIP: typing.Final = 20
"""Caps a flush when a backlog drains, so one round trip stays a bounded size."""
RETRY_DELAYS: typing.Final = (0.05, 0.1, 0.2, 0.5, 1.0)
"""Seconds before the next attempt after consecutive failures; the last one repeats."""


class StreamTransport(abc.ABC):
    """Where batches go."""

    @abc.abstractmethod
    async def send(self, entries: Sequence[StreamEntry]) -> None:
        """Append every entry to its pipeline's stream in one round trip; raise if that failed.

        After a failure some entries may have been applied; the publisher sends them all again.
        """


class RedisStreamTransport(StreamTransport):
    """XADD with `MAXLEN ~` per pipeline, in one non-transactional pipeline."""

    def __init__(
        self, redis: aioredis.Redis, keyspace: Keyspace, maxlens: Mapping[str, int]
    ) -> None:
        self._redis = redis
        self._keys = {pipeline: keyspace.key("stream", pipeline) for pipeline in maxlens}
        self._maxlens = dict(maxlens)

    async def send(self, entries: Sequence[StreamEntry]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for pipeline, job in entries:
                pipe.xadd(
                    self._keys[pipeline],
                    {"data": job},
                    maxlen=self._maxlens[pipeline],
                    approximate=True,
                )
            await pipe.execute()


class BatchPublisher:
    """The shard process's buffer between the gateway and the pipeline streams."""

    def __init__(
        self,
        transport: StreamTransport,
        *,
        batch_size: int,
        batch_ms: int,
        buffer_limit: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._batch_size = batch_size
        self._batch_seconds = batch_ms / 1000
        self._limit = buffer_limit
        self._clock = clock
        # (arrival time, pipeline, task, record); the first `_in_flight` entries are being sent.
        self._buffer: collections.deque[tuple[float, str, str, dict[str, typing.Any]]] = (
            collections.deque()
        )
        self._in_flight = 0
        self._dropped_in_flight = 0
        self._removed = 0
        """Records that have left the buffer (delivered or dropped) since the start."""
        # (buffer position, shard id, mark): position = records submitted before the mark.
        self._marks: collections.deque[tuple[int, int, Mark]] = collections.deque()
        self.delivered_marks: dict[int, Mark] = {}
        """Per shard id, the newest mark all of whose records have left the buffer."""
        self.marks_changed = asyncio.Event()
        """Set whenever `delivered_marks` changes; the reader clears it."""
        self._wakeup = asyncio.Event()
        self._closing = False
        self._closed = asyncio.Event()
        self.drops = 0
        """Records dropped (oldest first) because the buffer was full while Redis was away."""
        self.published = 0
        """Records delivered to Redis."""
        self.failures = 0
        """Consecutive failed round trips; 0 while Redis is reachable."""

    @property
    def backlog(self) -> int:
        """Records buffered or in flight, not yet known to be in Redis."""
        return len(self._buffer)

    def submit(self, pipeline: str, record: dict[str, typing.Any], *, task_name: str) -> None:
        """Queue one record for `pipeline`'s task `task_name`; never blocks and never fails.
        Records of one pipeline for different tasks (the `jobs` pipeline's premium and members
        routes) go in separate jobs: the task is each record's route's, never one per
        pipeline."""
        buffer = self._buffer
        if len(buffer) >= self._limit:
            buffer.popleft()
            if self._in_flight:
                self._in_flight -= 1
                self._dropped_in_flight += 1
            else:
                self.drops += 1
            self._removed += 1
            self._pass_marks()
        buffer.append((self._clock(), pipeline, task_name, record))
        if len(buffer) - self._in_flight in {1, self._batch_size}:
            self._wakeup.set()

    def mark(self, shard_id: int, mark: Mark) -> None:
        """Note that every record of `shard_id` up to `mark` has been submitted.

        `mark` becomes `delivered_marks[shard_id]` once every record submitted so far has left
        the buffer: at once if it is empty.
        """
        position = self._removed + len(self._buffer)
        marks = self._marks
        if position == self._removed and not marks:
            self.delivered_marks[shard_id] = mark
            self.marks_changed.set()
        else:
            # With no record between two marks of a shard, only the newer is kept: at most one
            # mark per shard and position, so marks never outnumber records times shards.
            index = len(marks) - 1
            while index >= 0 and marks[index][0] == position:
                if marks[index][1] == shard_id:
                    marks[index] = (position, shard_id, mark)
                    return
                index -= 1
            marks.append((position, shard_id, mark))

    def _pass_marks(self) -> None:
        marks = self._marks
        if not marks or marks[0][0] > self._removed:
            return
        while marks and marks[0][0] <= self._removed:
            _, shard_id, mark = marks.popleft()
            self.delivered_marks[shard_id] = mark
        self.marks_changed.set()

    def due_in(self) -> float | None:
        """Seconds until a batch is due (0: now), or None when nothing is waiting."""
        waiting = len(self._buffer) - self._in_flight
        if waiting <= 0:
            return None
        if waiting >= self._batch_size or self._closing:
            return 0.0
        oldest = self._buffer[self._in_flight][0]
        return max(0.0, oldest + self._batch_seconds - self._clock())

    def take(self) -> list[StreamEntry]:
        """Mark the due batches in flight and encode them; settle them with :meth:`settle`."""
        if self._in_flight:
            raise RuntimeError("a flush is already in flight")
        taken: list[dict[tuple[str, str], list[dict[str, typing.Any]]]] = []
        start = 0
        for _ in range(MAX_BATCHES_PER_ROUND_TRIP):
            self._in_flight = start
            due = self.due_in()
            if due is None or due > 0:
                break
            end = min(len(self._buffer), start + self._batch_size)
            batch: dict[tuple[str, str], list[dict[str, typing.Any]]] = {}
            for index in range(start, end):
                _, pipeline, task, record = self._buffer[index]
                batch.setdefault((pipeline, task), []).append(record)
            taken.append(batch)
            start = end
        self._in_flight = start
        self._dropped_in_flight = 0
        return [
            (pipeline, encode_job(task, records))
            for batch in taken
            for (pipeline, task), records in batch.items()
        ]

    def settle(self, *, delivered: bool) -> None:
        """Finish the flush :meth:`take` started: drop delivered records, or keep them."""
        if delivered:
            for _ in range(self._in_flight):
                self._buffer.popleft()
            self._removed += self._in_flight
            self._pass_marks()
            self.published += self._in_flight + self._dropped_in_flight
            self.failures = 0
        else:
            self.drops += self._dropped_in_flight
            self.failures += 1
        self._in_flight = 0
        self._dropped_in_flight = 0

    async def flush(self) -> bool:
        """Publish the due batches once; False if Redis could not be reached."""
        entries = self.take()
        if not entries:
            return True
        try:
            await self._transport.send(entries)
        except asyncio.CancelledError:
            self.settle(delivered=False)
            raise
        except Exception as error:  # any failure: keep the records, retry
            self.settle(delivered=False)
            if self.failures == 1:
                _log.warning("stream publish failed; buffering", error=str(error))
            return False
        if self.failures:
            _log.info("stream publish resumed", backlog=self.backlog)
        self.settle(delivered=True)
        return True

    async def run(self) -> None:
        """Publish until :meth:`close`; then deliver what is left if Redis allows."""
        while True:
            due = self.due_in()
            if due is None or due > 0:
                if self._closing:
                    return
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(due):
                        await self._wakeup.wait()
                continue
            if not await self.flush():
                if self._closing:
                    return
                delay = RETRY_DELAYS[min(self.failures, len(RETRY_DELAYS)) - 1]
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._closed.wait()

    def close(self) -> None:
        """Ask :meth:`run` to publish everything waiting, ignoring `batch_ms`, and return."""
        self._closing = True
        self._closed.set()
        self._wakeup.set()
