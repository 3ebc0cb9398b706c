"""The premium feature's work on the pipelines: task names, the shards' route, the schedule,
and its Redis key families (docs/redis-keys.md)."""

from __future__ import annotations

import typing

from townsquare.core.events.routes import Route
from townsquare.core.features import Schedule
from townsquare.core.keyspace import Family, Part, RedisType, TTLPolicy

__all__ = [
    "PREMIUM_FAMILIES",
    "PREMIUM_ROUTE",
    "PREMIUM_SCHEDULES",
    "RECORDS_TASK",
    "SWEEP_TASK",
]

RECORDS_TASK: typing.Final = "premium.records"
"""Entitlement events (applied) and guild records (that guild's entitlements reconciled)."""
SWEEP_TASK: typing.Final = "premium.sweep"
"""Every minute: expiries, grace periods, notices due, and the periodic reconciliation."""

PREMIUM_ROUTE: typing.Final = Route("jobs", RECORDS_TASK, frozenset({"entitlement", "guild"}))
"""ENTITLEMENT_CREATE/UPDATE/DELETE, and each guild a shard receives (start-up, join)."""

PREMIUM_SCHEDULES: typing.Final = (Schedule("premium-sweep", SWEEP_TASK, cron="* * * * *"),)

PREMIUM_FAMILIES: typing.Final[tuple[Family, ...]] = (
    Family(
        "premium_reconciled",
        RedisType.STRING,
        (Part.NAME,),
        TTLPolicy.by_writer("premium.reconcile_interval_seconds for `all`; 60 s for one guild's"),
        "premium workers, when they reconcile entitlements with Discord's list",
        "Per scope (`all`, `startup`): set NX before a full reconciliation, so one runs per "
        "interval however many workers and shard starts ask.",
    ),
)
