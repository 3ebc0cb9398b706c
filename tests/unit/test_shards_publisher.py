"""Batching rules of the shard publisher, on a fake clock and an in-memory transport."""

from __future__ import annotations

import asyncio
import json
import typing

import pytest

from tests.support.waiting import wait_until
from townsquare.shards.publisher import (
    MAX_BATCHES_PER_ROUND_TRIP,
    BatchPublisher,
    StreamEntry,
    StreamTransport,
)

if typing.TYPE_CHECKING:
    from collections.abc import Sequence


class MemoryTransport(StreamTransport):
    """Keeps what it was sent; `down` makes every round trip fail."""

    def __init__(self) -> None:
        self.round_trips: list[list[StreamEntry]] = []
        self.down = False
        self.sent = asyncio.Event()

    async def send(self, entries: Sequence[StreamEntry]) -> None:
        if self.down:
            raise ConnectionError("redis is away")
        self.round_trips.append(list(entries))
        self.sent.set()

    def entries(self) -> list[tuple[str, str, list[typing.Any]]]:
        """(pipeline, task name, records) of every entry, in order."""
        decoded = []
        for trip in self.round_trips:
            for pipeline, job in trip:
                message = json.loads(job)
                (records,) = message["args"]
                decoded.append((pipeline, message["task_name"], records))
        return decoded

    def records(self) -> list[typing.Any]:
        return [r for _, _, records in self.entries() for r in records]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


TASKS: typing.Final = {"xp": "xp.process_batch", "automod": "automod.check_batch"}
"""Each pipeline's task in these tests (the shards pass each record's route's)."""


def publisher(
    transport: MemoryTransport, clock: Clock, *, size: int = 3, ms: int = 100, limit: int = 10
) -> BatchPublisher:
    return BatchPublisher(
        transport,
        batch_size=size,
        batch_ms=ms,
        buffer_limit=limit,
        clock=clock,
    )


async def test_a_partial_batch_waits_for_batch_ms_from_its_oldest_record() -> None:
    transport, clock = MemoryTransport(), Clock()
    pub = publisher(transport, clock, ms=1000)
    assert pub.due_in() is None
    pub.submit("xp", {"n": 1}, task_name=TASKS["xp"])
    clock.now += 0.75
    pub.submit("xp", {"n": 2}, task_name=TASKS["xp"])
    assert pub.due_in() == 0.25
    assert pub.take() == []
    clock.now += 0.25
    assert pub.due_in() == 0
    assert await pub.flush()
    assert transport.entries() == [("xp", "xp.process_batch", [{"n": 1}, {"n": 2}])]
    assert (pub.backlog, pub.published) == (0, 2)


async def test_a_full_batch_is_due_at_once_and_holds_at_most_batch_size_records() -> None:
    transport, clock = MemoryTransport(), Clock()
    pub = publisher(transport, clock, size=3, limit=100)
    for n in range(7):
        pub.submit("xp", {"n": n}, task_name=TASKS["xp"])
    assert pub.due_in() == 0
    assert await pub.flush()
    # Two full batches in one round trip; the seventh record waits for its batch_ms.
    assert len(transport.round_trips) == 1
    assert [len(records) for _, _, records in transport.entries()] == [3, 3]
    assert pub.backlog == 1
    assert pub.due_in() == pytest.approx(0.1)


async def test_two_tasks_sharing_a_pipeline_each_get_their_own_job() -> None:
    """The kernel's `jobs` pipeline carries premium's guild records and the members
    feature's joins: each record reaches its own task (once, one task name won for the whole
    pipeline, and premium's guild records went to the members task)."""
    transport, clock = MemoryTransport(), Clock()
    pub = publisher(transport, clock, size=3)
    pub.submit("jobs", {"n": 1}, task_name="premium.process_records")
    pub.submit("jobs", {"n": 2}, task_name="members.count_changes")
    pub.submit("jobs", {"n": 3}, task_name="premium.process_records")
    assert await pub.flush()
    assert transport.entries() == [
        ("jobs", "premium.process_records", [{"n": 1}, {"n": 3}]),
        ("jobs", "members.count_changes", [{"n": 2}]),
    ]


async def test_one_batch_splits_into_one_entry_per_pipeline_in_order() -> None:
    transport, clock = MemoryTransport(), Clock()
    pub = publisher(transport, clock, size=4)
    for pipeline, n in [("xp", 1), ("automod", 2), ("xp", 3), ("automod", 4)]:
        pub.submit(pipeline, {"n": n}, task_name=TASKS[pipeline])
    assert await pub.flush()
    assert transport.entries() == [
        ("xp", "xp.process_batch", [{"n": 1}, {"n": 3}]),
        ("automod", "automod.check_batch", [{"n": 2}, {"n": 4}]),
    ]


async def test_a_backlog_drains_in_bounded_round_trips() -> None:
    transport, clock = MemoryTransport(), Clock()
    pub = publisher(transport, clock, size=2, limit=10_000)
    for n in range(2 * MAX_BATCHES_PER_ROUND_TRIP + 3):
        pub.submit("xp", {"n": n}, task_name=TASKS["xp"])
    clock.now += 1
    while pub.backlog:
        assert await pub.flush()
    assert [len(trip) for trip in transport.round_trips] == [MAX_BATCHES_PER_ROUND_TRIP, 2]
    assert [r["n"] for r in transport.records()] == list(range(2 * MAX_BATCHES_PER_ROUND_TRIP + 3))


async def test_while_redis_is_away_the_oldest_are_dropped_beyond_the_limit() -> None:
    transport, clock = MemoryTransport(), Clock()
    pub = publisher(transport, clock, size=2, limit=5)
    transport.down = True
    for n in range(8):
        pub.submit("xp", {"n": n}, task_name=TASKS["xp"])
        clock.now += 1
        assert not await pub.flush()
    assert (pub.backlog, pub.drops, pub.failures) == (5, 3, 8)
    transport.down = False
    clock.now += 1
    while pub.backlog:
        assert await pub.flush()
    assert [r["n"] for r in transport.records()] == [3, 4, 5, 6, 7]
    assert (pub.drops, pub.published, pub.failures) == (3, 5, 0)


async def test_records_pushed_out_of_a_batch_in_flight_count_as_dropped_only_if_it_failed() -> None:
    for fails in (False, True):
        transport, clock = MemoryTransport(), Clock()
        pub = publisher(transport, clock, size=2, limit=3)
        for n in range(3):
            pub.submit("xp", {"n": n}, task_name=TASKS["xp"])
        entries = pub.take()  # records 0 and 1 in flight
        assert len(entries) == 1
        pub.submit(
            "xp", {"n": 3}, task_name=TASKS["xp"]
        )  # pushes record 0 out while it is in flight
        pub.settle(delivered=not fails)
        assert pub.drops == (1 if fails else 0)
        assert pub.published == (0 if fails else 2)
        assert pub.backlog == (3 if fails else 2)


async def test_run_publishes_in_the_background_and_close_flushes_what_is_left() -> None:
    transport = MemoryTransport()
    pub = BatchPublisher(
        transport,
        batch_size=100,
        batch_ms=60_000,
        buffer_limit=1000,
    )
    runner = asyncio.create_task(pub.run())
    for n in range(250):
        pub.submit("xp", {"n": n}, task_name=TASKS["xp"])
    async with asyncio.timeout(5):
        while pub.published < 200:
            await transport.sent.wait()
            transport.sent.clear()
    assert pub.backlog == 50  # the partial batch waits for batch_ms ...
    pub.close()
    async with asyncio.timeout(5):
        await runner  # ... until close() publishes it
    assert [r["n"] for r in transport.records()] == list(range(250))
    assert max(len(records) for _, _, records in transport.entries()) == 100


async def test_run_retries_until_redis_returns() -> None:
    transport = MemoryTransport()
    transport.down = True
    pub = BatchPublisher(transport, batch_size=1, batch_ms=1, buffer_limit=10)
    runner = asyncio.create_task(pub.run())
    pub.submit("xp", {"n": 1}, task_name=TASKS["xp"])
    await wait_until(lambda: pub.failures >= 2, within=5, what="two failed round trips")
    transport.down = False
    async with asyncio.timeout(5):
        await transport.sent.wait()
    pub.close()
    async with asyncio.timeout(5):
        await runner
    assert transport.records() == [{"n": 1}]
    assert (pub.backlog, pub.drops, pub.failures) == (0, 0, 0)


async def test_a_mark_passes_only_once_every_earlier_record_is_delivered() -> None:
    transport, clock = MemoryTransport(), Clock()
    pub = publisher(transport, clock, size=2, limit=100)
    pub.mark(0, "seq 1")  # nothing waiting: delivered at once
    assert pub.delivered_marks == {0: "seq 1"}
    assert pub.marks_changed.is_set()
    pub.marks_changed.clear()
    for n in range(3):
        pub.submit("xp", {"n": n}, task_name=TASKS["xp"])
        pub.mark(0, f"seq {n + 2}")
    pub.mark(1, "other shard")
    assert pub.delivered_marks == {0: "seq 1"}
    assert await pub.flush()  # one full batch: records 0 and 1; record 2 waits
    assert pub.delivered_marks == {0: "seq 3"}
    assert pub.marks_changed.is_set()
    transport.down = True
    clock.now += 1
    assert not await pub.flush()  # a failed round trip passes no mark
    assert pub.delivered_marks == {0: "seq 3"}
    transport.down = False
    assert await pub.flush()
    assert pub.delivered_marks == {0: "seq 4", 1: "other shard"}


async def test_marks_without_records_between_them_are_kept_once() -> None:
    transport, clock = MemoryTransport(), Clock()
    pub = publisher(transport, clock, size=10, limit=100)
    pub.submit("xp", {"n": 0}, task_name=TASKS["xp"])
    for seq in range(1_000):
        pub.mark(0, seq)
        pub.mark(1, -seq)
    assert len(pub._marks) == 2
    clock.now += 1
    assert await pub.flush()
    assert pub.delivered_marks == {0: 999, 1: -999}


async def test_marks_behind_dropped_records_pass_with_them() -> None:
    transport, clock = MemoryTransport(), Clock()
    transport.down = True
    pub = publisher(transport, clock, size=10, limit=2)
    for n in range(3):
        pub.submit("xp", {"n": n}, task_name=TASKS["xp"])
        pub.mark(0, n)
    # Record 0 was dropped for record 2: the mark after it passes, the later ones wait.
    assert pub.delivered_marks == {0: 0}
    transport.down = False
    clock.now += 1
    assert await pub.flush()
    assert pub.delivered_marks == {0: 2}
