"""The overview's rollups from known events: the XP award script's hot counts (a redelivered
batch counts nothing twice) and a feature's durable source (moderation cases), rolled up into
hour and day rows that a second run leaves as they are."""

from __future__ import annotations

import datetime
import time
import typing

import pytest

from tests.support.activity import rollup_rows
from tests.support.pipeline import enqueue
from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.waiting import wait_until
from tests.support.workers import running_worker, settings_with
from tests.support.xp import configure, message
from townsquare.core.activity.counters import HOUR_MS, record_activity
from townsquare.core.activity.rollup import daily_series, flush_counters, roll_up_sources
from townsquare.core.features import load_feature
from townsquare.core.guard.models import Case, CaseStatus
from townsquare.core.keyspace import guild_bucket
from townsquare.features.xp.domain.award import award_messages
from townsquare.features.xp.domain.config import XPSection
from townsquare.tasks.activity import ROLL_UP_TASK
from townsquare.tasks.alert_delivery import kernel_schedules
from townsquare.tasks.registry import load_tasks

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

GUILD = 900_000_000_000_000_411


def _day(hour: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(hour // 24 * 86_400, datetime.UTC)


@pytest.mark.usefixtures("orm")
async def test_hot_counts_roll_up_once_per_message_into_hours_and_days(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    section = (await configure(GUILD)).section(XPSection)
    now = int(time.time() * 1000)
    # Three members post three messages each, a cooldown apart; then two post once more.
    first = [
        message(GUILD, member, 1_000 + 10 * member + n, now - 3_000_000 + n * 61_000)
        for member in (1, 2, 3)
        for n in range(3)
    ]
    second = [message(GUILD, 1, 2_001, now - 30_000), message(GUILD, 4, 2_002, now - 20_000)]
    gained: dict[int, int] = {}
    for batch in (first, first, second, second[:1]):  # each batch redelivered once
        outcome = await award_messages(redis, keyspace, GUILD, section, batch)
        hour = max(record.timestamp_ms for record in batch) // HOUR_MS
        gained[hour] = gained.get(hour, 0) + sum(outcome.gained.values())
    first_hour = first[-1].timestamp_ms // HOUR_MS
    second_hour = second[-1].timestamp_ms // HOUR_MS
    expected_messages = {first_hour: 9}
    expected_messages[second_hour] = expected_messages.get(second_hour, 0) + 2
    active = {first_hour: {1, 2, 3}}
    active.setdefault(second_hour, set()).update({1, 4})
    assert sum(gained.values()) == sum(
        int(v) for v in (await redis.hgetall(keyspace.key("xp", GUILD))).values()
    )

    assert await flush_counters(redis, keyspace) == len(expected_messages)
    assert await flush_counters(redis, keyspace) == 0  # nothing pending: nothing written

    hours = await rollup_rows(GUILD, "hour")
    for hour, count in expected_messages.items():
        start = datetime.datetime.fromtimestamp(hour * 3_600, datetime.UTC)
        assert hours[start, "messages"] == count
        assert hours[start, "xp"] == gained[hour]
        assert hours[start, "active_members"] == len(active[hour])
    days = await rollup_rows(GUILD, "day")
    by_day: dict[datetime.datetime, tuple[int, set[int]]] = {}
    for hour, count in expected_messages.items():
        total, members = by_day.get(_day(hour), (0, set()))
        by_day[_day(hour)] = (total + count, members | active[hour])
    for day, (total, members) in by_day.items():
        assert days[day, "messages"] == total
        assert days[day, "active_members"] == len(members)
        assert days[day, "xp"] == sum(v for h, v in gained.items() if _day(h) == day)

    series = {s.metric.name: s for s in await daily_series(GUILD)}
    today = datetime.datetime.now(datetime.UTC).date()
    assert series["messages"].days[-1] == today
    assert len(series["messages"].values) == 30
    assert sum(series["messages"].values) == 11
    assert series["moderation_actions"].values == (0,) * 30


@pytest.mark.usefixtures("orm")
async def test_a_durable_source_is_counted_again_from_its_mark_to_the_same_numbers() -> None:
    moderation = load_feature("townsquare.features.moderation")
    now = datetime.datetime.now(datetime.UTC)
    for number in (1, 2, 3):
        await Case.create(
            guild_id=GUILD,
            number=number,
            key=f"k{number}",
            action="warn",
            source="command",
            actor_kind="user",
            target_id=5,
            status=CaseStatus.EXECUTED,
            occurred_at=now,
        )
    assert await roll_up_sources(moderation.activity_sources, now=now) == 1
    assert await roll_up_sources(moderation.activity_sources, now=now) == 1  # same numbers
    hour = now.replace(minute=0, second=0, microsecond=0)
    assert (await rollup_rows(GUILD, "hour"))[hour, "moderation_actions"] == 3
    assert (await rollup_rows(GUILD, "day"))[hour.replace(hour=0), "moderation_actions"] == 3
    series = {s.metric.name: s for s in await daily_series(GUILD)}
    assert series["moderation_actions"].values[-1] == 3


@pytest.mark.usefixtures("orm")
async def test_the_scheduler_fires_the_rollup_every_minute_and_a_worker_runs_it(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace
) -> None:
    settings = settings_with()
    rollup = next(s for s in kernel_schedules(settings) if s.task_name == ROLL_UP_TASK)
    assert rollup.interval_seconds == 60
    now = int(time.time() * 1000)
    await record_activity(redis, keyspace, GUILD, now, counts={"messages": 4}, members=(7,))
    async with running_worker(settings, redis_url, keyspace, load_tasks(), ("jobs",)):
        await enqueue(redis, keyspace, "jobs", ROLL_UP_TASK)

        async def rolled_up() -> bool:
            return (await rollup_rows(GUILD, "day")).get((_day(now // HOUR_MS), "messages")) == 4

        await wait_until(rolled_up, within=15, what="the rollup written by the worker")
    assert not await redis.hlen(keyspace.key("activity_pending", guild_bucket(GUILD)))
