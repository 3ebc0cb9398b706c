"""Helpers for the console tests (no tests here): Redis data written the way its writers do."""

from __future__ import annotations

import asyncio
import time
import typing

from textual.widgets import DataTable

from townsquare.core.events import encode_job
from townsquare.core.features import adapter_modules
from townsquare.tasks.dead_letters import dead_letter_fields

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import redis.asyncio as aioredis
    from textual.pilot import Pilot
    from textual.widget import Widget

    from townsquare.core.keyspace import Keyspace

__all__ = [
    "GROUP",
    "add_dead_letter",
    "cells",
    "column",
    "feature_tab_keys",
    "open_table",
    "pending_stream",
    "tab_key",
    "until",
    "write_shard_health",
]

GROUP = "workers"
"""The consumer group the workers use (townsquare.tasks.brokers.CONSUMER_GROUP)."""


async def until(
    pilot: Pilot[typing.Any],
    check: Callable[[], bool] | Callable[[], Awaitable[bool]],
    *,
    within: float = 10.0,
    what: str = "condition",
) -> None:
    """Let the app run until `check` holds; fail after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        outcome = check()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not reached within {within} s")
        await pilot.pause(0.05)


async def write_shard_health(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    shard_id: int,
    *,
    reported_ago: float = 0.0,
    **fields: object,
) -> None:
    """Write a shard's health hash as `townsquare.shards.health.HealthWriter` does: every
    field as text (times in Unix ms), then the family's TTL."""
    key = keyspace.key("shard_health", shard_id)
    reported_ms = int((time.time() - reported_ago) * 1000)
    values = {
        "shard_id": str(shard_id),
        "shard_count": "16",
        "state": "connected",
        "latency_ms": "42.0",
        "guilds": "120",
        "events_per_second": "3.50",
        "last_event_at": str(reported_ms - 100),
        "session_id": f"session-{shard_id}",
        "resumes": "0",
        "reconnects": "0",
        "backlog": "0",
        "drops": "0",
        "cluster": "",
        "process": "host-a:4242",
        "updated_at": str(reported_ms),
    }
    values.update({name: str(value) for name, value in fields.items()})
    async with redis.pipeline(transaction=True) as tx:
        tx.hset(key, mapping=values)  # type: ignore[arg-type]
        tx.expire(key, keyspace.ttl("shard_health") or 15)
        await tx.execute()


async def pending_stream(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    pipeline: str,
    *,
    queued: int,
    delivered: int,
    consumer: str = "worker-a",
) -> None:
    """Queue `queued` jobs on `pipeline` and deliver `delivered` of them, unacknowledged."""
    stream = keyspace.key("stream", pipeline)
    await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    for index in range(queued):
        await redis.xadd(stream, {"data": encode_job("tests.nothing", index)})
    if delivered:
        await redis.xreadgroup(GROUP, consumer, {stream: ">"}, count=delivered)


async def add_dead_letter(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    pipeline: str,
    task_name: str,
    *args: object,
    error: BaseException | None = None,
    attempts: int = 3,
) -> str:
    """Append a dead letter exactly as a worker writes it; returns its entry id."""
    payload = {
        "task_id": f"job-{time.monotonic_ns()}",
        "task_name": task_name,
        "labels": {"attempt": str(attempts)},
        "labels_types": {"attempt": 2},
        "args": list(args),
        "kwargs": {},
    }
    try:
        raise error or RuntimeError("the guild's channel is gone")
    except BaseException as raised:
        fields = dead_letter_fields(payload, pipeline=pipeline, error=raised, attempts=attempts)
    entry_id = await redis.xadd(keyspace.key("dead_letter", pipeline), fields)  # type: ignore[arg-type]
    return entry_id.decode()


def feature_tab_keys() -> dict[str, str]:
    """The keys that open the feature tabs (and the alerts), by tab id: feature panes are
    numbered from 4 in feature order, then the alerts, so the numbers move as features come."""
    tabs = [pane.TAB_ID for module in adapter_modules("console") for pane in module.PANES]
    return {tab: str(number) for number, tab in enumerate([*tabs, "alerts"], start=4)}


def tab_key(pilot: Pilot[typing.Any], tab_id: str) -> str:
    """The key that opens tab `tab_id` in the app under `pilot` (see :func:`feature_tab_keys`)."""
    app: typing.Any = pilot.app
    tabs = [pane.TAB_ID for pane in app.pane_types] + ["alerts"]
    return str(4 + tabs.index(tab_id))


async def open_table(
    pilot: Pilot[typing.Any], key: str, pane: type[Widget], *, rows: int, what: str
) -> DataTable[typing.Any]:
    """Press `key` to open `pane` and wait until its table has `rows` rows; the table."""
    await pilot.press(key)
    table: DataTable[typing.Any] = pilot.app.query_one(pane).query_one(DataTable)
    await until(pilot, lambda: table.row_count == rows, what=what)
    return table


def cells(table: DataTable[typing.Any]) -> list[list[str]]:
    """Every row of `table` as plain strings."""
    return [[str(cell) for cell in table.get_row_at(row)] for row in range(table.row_count)]


def column(table: DataTable[typing.Any], label: str) -> int:
    return [str(col.label) for col in table.ordered_columns].index(label)
