"""The health hash a shard writes, computed from its counters, its hikari shard and a clock."""

from __future__ import annotations

import dataclasses
import math
import typing

import pytest

from townsquare.core.keyspace import Keyspace
from townsquare.shards.health import HEALTH_FIELDS, HealthWriter, ShardStats
from townsquare.shards.publisher import BatchPublisher, StreamTransport

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    from townsquare.shards.publisher import StreamEntry


@dataclasses.dataclass
class FakeShard:
    is_alive: bool = True
    is_connected: bool = True
    heartbeat_latency: float = math.nan


class NoTransport(StreamTransport):
    async def send(self, entries: Sequence[StreamEntry]) -> None:
        raise ConnectionError("unused")


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def writer(
    shards: dict[int, FakeShard], stats: dict[int, ShardStats], clock: Clock
) -> HealthWriter:
    publisher = BatchPublisher(
        NoTransport(),
        batch_size=1,
        batch_ms=1,
        buffer_limit=2,
    )
    for n in range(3):
        publisher.submit(
            "xp", {"n": n}, task_name="xp.process_batch"
        )  # a backlog of 2, one dropped
    return HealthWriter(
        redis=None,  # type: ignore[arg-type]  # fields() never touches Redis
        keyspace=Keyspace("ts"),
        shard_ids=(0, 1, 2),
        shard_count=4,
        stats=stats,
        shards=lambda: shards,  # type: ignore[arg-type,return-value]
        publisher=publisher,
        cluster=1,
        clock=clock,
    )


def test_fields_describe_each_shard() -> None:
    clock = Clock()
    stats = {shard: ShardStats() for shard in (0, 1, 2)}
    shards = {0: FakeShard(heartbeat_latency=0.0423), 1: FakeShard(is_connected=False)}
    health = writer(shards, stats, clock)
    stats[0].session_id, stats[0].connects, stats[0].resumes = "abc", 3, 2
    stats[0].guild_ids.update({10, 11})
    for ms in (1000, 2000, 3000, 4000):
        stats[0].saw_event(ms)
    clock.now += 2
    fields = health.fields(0)
    assert tuple(fields) == HEALTH_FIELDS
    assert fields | {"process": "-", "updated_at": "-"} == {
        "shard_id": "0",
        "shard_count": "4",
        "state": "connected",
        "latency_ms": "42.3",
        "guilds": "2",
        "events_per_second": "2.00",
        "last_event_at": "4000",
        "session_id": "abc",
        "resumes": "2",
        "reconnects": "2",
        "backlog": "2",
        "drops": "1",
        "cluster": "1",
        "process": "-",
        "updated_at": "-",
    }
    resuming, not_created = health.fields(1), health.fields(2)
    assert (resuming["state"], resuming["latency_ms"], resuming["last_event_at"]) == (
        "connecting",
        "",
        "",
    )
    assert not_created["state"] == "starting"
    assert health.fields(0, stopped=True)["state"] == "stopped"


@pytest.mark.parametrize(
    ("alive", "connected", "state"),
    [(True, True, "connected"), (True, False, "connecting"), (False, False, "stopped")],
)
def test_state_follows_the_hikari_shard(alive: bool, connected: bool, state: str) -> None:
    stats = {shard: ShardStats() for shard in (0, 1, 2)}
    health = writer({0: FakeShard(is_alive=alive, is_connected=connected)}, stats, Clock())
    assert health.fields(0)["state"] == state
