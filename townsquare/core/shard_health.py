"""The fields of a shard's health hash (keyspace family `shard_health`).

Shards write them and the console reads them; neither may import the other, so the list
lives here.
"""

from __future__ import annotations

import typing

__all__ = ["HEALTH_FIELDS"]

HEALTH_FIELDS: typing.Final = (
    "shard_id",
    "shard_count",
    "state",
    "latency_ms",
    "guilds",
    "events_per_second",
    "last_event_at",
    "session_id",
    "resumes",
    "reconnects",
    "backlog",
    "drops",
    "cluster",
    "process",
    "updated_at",
)
"""In the order the console's details show them. Times are Unix milliseconds."""
