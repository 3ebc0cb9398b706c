"""Shard health: counters kept from gateway events, written to Redis for the console.

Every `shards.health_interval_seconds` (at most 5 s) each shard of the process writes its
`shard_health` hash (`<ns>:shard_health:<shard id>`) and renews the family's TTL (15 s) in one
round trip, so a shard whose process stopped or hung disappears on its own. Fields, all text:

| field | meaning |
| --- | --- |
| `shard_id`, `shard_count` | which shard of how many |
| `state` | `starting` (not created yet), `connecting`, `connected`, or `stopped` (last write) |
| `latency_ms` | last heartbeat round trip; empty until the first heartbeat ACK |
| `guilds` | guilds this shard has received and not left |
| `events_per_second` | gateway events handled since the previous write, per second |
| `last_event_at` | Unix ms of the last event handled; empty before the first |
| `session_id` | the gateway session (from READY) |
| `resumes`, `reconnects` | sessions resumed; connections after the first |
| `backlog`, `drops` | the process's unpublished and dropped records (shared by its shards) |
| `cluster`, `process` | the cluster index given at start (empty if none); `host:pid` |
| `updated_at` | Unix ms of this write |
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import socket
import time
import typing

import structlog

from townsquare.core.shard_health import HEALTH_FIELDS

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    import hikari
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.shards.publisher import BatchPublisher

__all__ = ["HEALTH_FIELDS", "HealthWriter", "ShardStats"]

_log = structlog.get_logger(__name__)


@dataclasses.dataclass(slots=True)
class ShardStats:
    """What one shard has seen; updated by the gateway event handlers."""

    events: int = 0
    last_event_ms: int | None = None
    session_id: str = ""
    connects: int = 0
    resumes: int = 0
    guild_ids: set[int] = dataclasses.field(default_factory=set)

    def saw_event(self, now_ms: int) -> None:
        self.events += 1
        self.last_event_ms = now_ms

    @property
    def reconnects(self) -> int:
        return max(0, self.connects - 1)


def _state(shard: hikari.api.GatewayShard | None) -> str:
    if shard is None:
        return "starting"
    if shard.is_connected:
        return "connected"
    return "connecting" if shard.is_alive else "stopped"


class HealthWriter:
    """Writes the health hash of every shard of the process."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keyspace: Keyspace,
        *,
        shard_ids: Sequence[int],
        shard_count: int,
        stats: Mapping[int, ShardStats],
        shards: Callable[[], Mapping[int, hikari.api.GatewayShard]],
        publisher: BatchPublisher,
        cluster: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._keyspace = keyspace
        self._ttl = keyspace.ttl("shard_health") or 15
        self._shard_ids = tuple(shard_ids)
        self._shard_count = shard_count
        self._stats = stats
        self._shards = shards
        self._publisher = publisher
        self._cluster = "" if cluster is None else str(cluster)
        self._process = f"{socket.gethostname()}:{os.getpid()}"  # keyspace: not a key (a label)
        self._clock = clock
        self._last_write = clock()
        self._last_events = dict.fromkeys(self._shard_ids, 0)
        self._failing = False

    def fields(self, shard_id: int, *, stopped: bool = False) -> dict[str, str]:
        """The health hash of `shard_id` now (also advances its events/s window)."""
        stats = self._stats[shard_id]
        shard = self._shards().get(shard_id)
        now = self._clock()
        elapsed = max(now - self._last_write, 1e-3)
        rate = (stats.events - self._last_events[shard_id]) / elapsed
        latency = math.nan if shard is None else shard.heartbeat_latency
        return {
            "shard_id": str(shard_id),
            "shard_count": str(self._shard_count),
            "state": "stopped" if stopped else _state(shard),
            "latency_ms": "" if math.isnan(latency) else f"{latency * 1000:.1f}",
            "guilds": str(len(stats.guild_ids)),
            "events_per_second": f"{rate:.2f}",
            "last_event_at": "" if stats.last_event_ms is None else str(stats.last_event_ms),
            "session_id": stats.session_id,
            "resumes": str(stats.resumes),
            "reconnects": str(stats.reconnects),
            "backlog": str(self._publisher.backlog),
            "drops": str(self._publisher.drops),
            "cluster": self._cluster,
            "process": self._process,
            "updated_at": str(time.time_ns() // 1_000_000),
        }

    async def write(self, *, stopped: bool = False) -> bool:
        """Write every shard's hash with its TTL in one round trip; False if Redis failed."""
        hashes = {shard: self.fields(shard, stopped=stopped) for shard in self._shard_ids}
        self._last_write = self._clock()
        for shard in self._shard_ids:
            self._last_events[shard] = self._stats[shard].events
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for shard, mapping in hashes.items():
                    key = self._keyspace.key("shard_health", shard)
                    pipe.hset(key, items=[item for pair in mapping.items() for item in pair])
                    pipe.expire(key, self._ttl)
                await pipe.execute()
        except Exception as error:  # health must never stop the shard
            if not self._failing:
                _log.warning("shard health write failed", error=str(error))
            self._failing = True
            return False
        self._failing = False
        return True

    async def run(self, interval: float) -> None:
        """Write every `interval` seconds until cancelled."""
        while True:
            started = self._clock()
            await self.write()
            await asyncio.sleep(max(0.0, started + interval - self._clock()))
