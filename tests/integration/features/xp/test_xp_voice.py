"""Voice XP through a real worker: each anti-AFK rule, late voice records, ticks once per minute."""

from __future__ import annotations

import datetime
import time
import typing

import pytest

from tests.support.waiting import wait_until
from tests.support.workers import running_worker, settings_with
from tests.support.xp import configure, drained
from townsquare.core.events import GuildRecord, VoiceStateRecord, encode_job
from townsquare.core.events.wire import DATA_FIELD
from townsquare.features.xp.domain.jobs import xp_schedules
from townsquare.features.xp.domain.voice import TICK_LATE_LIMIT_MINUTES
from townsquare.features.xp.tasks import PROCESS_BATCH_TASK, VOICE_TICK_TASK
from townsquare.tasks.brokers import make_brokers
from townsquare.tasks.registry import load_tasks
from townsquare.tasks.schedule_sources import install_schedules, make_schedule_source
from townsquare.tasks.scheduler import PipelineScheduler

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = pytest.mark.integration

LOUNGE, GAMING, AFK = 801, 802, 803
WITHIN = 45.0


def voice(guild: int, user: int, channel: int | None, ts: int, **flags: bool) -> VoiceStateRecord:
    values = {"is_bot": False, "self_mute": False, "self_deaf": False, "mute": False, "deaf": False}
    values.update(flags)
    return VoiceStateRecord(
        guild_id=guild, user_id=user, channel_id=channel, timestamp_ms=ts, **values
    )


async def enqueue(
    redis: aioredis.Redis, keyspace: Keyspace, task: str, *args: object, **kwargs: object
) -> None:
    await redis.xadd(keyspace.key("stream", "xp"), {DATA_FIELD: encode_job(task, *args, **kwargs)})


async def voice_xp(redis: aioredis.Redis, keyspace: Keyspace, guild: int) -> dict[int, int]:
    raw = await redis.hgetall(keyspace.key("xp", guild))
    return {int(m): int(x) for m, x in raw.items()}


# Each scenario is its own guild: (states, count_self_muted, members expected to earn).
SCENARIOS: dict[str, tuple[list[tuple[int, int | None, dict[str, bool]]], bool, set[int]]] = {
    "alone": ([(1, LOUNGE, {})], False, set()),
    "with-a-bot": ([(1, LOUNGE, {}), (2, LOUNGE, {"is_bot": True})], False, set()),
    "two-humans": ([(1, LOUNGE, {}), (2, LOUNGE, {})], False, {1, 2}),
    "deafened": (
        [(1, LOUNGE, {}), (2, LOUNGE, {}), (3, LOUNGE, {"self_deaf": True})],
        False,
        {1, 2},
    ),
    "deafened-partner": ([(1, LOUNGE, {}), (2, LOUNGE, {"deaf": True})], False, set()),
    "self-muted": ([(1, LOUNGE, {}), (2, LOUNGE, {"self_mute": True})], False, {1}),
    "self-muted-counted": ([(1, LOUNGE, {}), (2, LOUNGE, {"self_mute": True})], True, {1, 2}),
    "afk-channel": ([(1, AFK, {}), (2, AFK, {})], False, set()),
    "apart": ([(1, LOUNGE, {}), (2, GAMING, {})], False, set()),
}


async def test_voice_tick_follows_each_anti_afk_rule_and_pays_once_per_minute(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace, orm: None
) -> None:
    now = int(time.time() * 1000)
    guilds = {name: 910_000_000_000_000_000 + n for n, name in enumerate(SCENARIOS)}
    for name, (_, counted, _) in SCENARIOS.items():
        await configure(
            guilds[name],
            xp={
                "voice": {
                    "enabled": True,
                    "xp_per_minute": 10,
                    "count_self_muted": counted,
                    "min_members": 2,
                }
            },
            levels={"notice": {"mode": "off", "channel_id": None, "template": "{user}"}},
        )
    records: list[dict[str, object]] = []
    for name, (states, _, _) in SCENARIOS.items():
        guild = guilds[name]
        records.append(
            GuildRecord(
                guild_id=guild, name=name, owner_id=1, afk_channel_id=AFK, timestamp_ms=now - 5000
            ).model_dump(mode="json")
        )
        records += [
            voice(guild, user, channel, now, **flags).model_dump(mode="json")
            for user, channel, flags in states
        ]
    minute = now // 60_000
    async with running_worker(settings_with(), redis_url, keyspace, load_tasks(), ("xp",)):
        await enqueue(redis, keyspace, PROCESS_BATCH_TASK, records)
        await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="drained")
        await enqueue(redis, keyspace, VOICE_TICK_TASK, minute=minute)
        await enqueue(redis, keyspace, VOICE_TICK_TASK, minute=minute)  # a doubled tick
        await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="drained")
        for name, (_, _, earners) in SCENARIOS.items():
            assert await voice_xp(redis, keyspace, guilds[name]) == dict.fromkeys(earners, 10), name
        await enqueue(redis, keyspace, VOICE_TICK_TASK, minute=minute + 1)
        await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="drained")
    for name, (_, _, earners) in SCENARIOS.items():
        assert await voice_xp(redis, keyspace, guilds[name]) == dict.fromkeys(earners, 20), name
        minutes = await redis.hgetall(keyspace.key("xp_voice_minutes", guilds[name]))
        assert {int(m): int(v) for m, v in minutes.items()} == dict.fromkeys(earners, 2)
        # The overview's activity counts the XP once per minute, the doubled tick too.
        counted = 0
        for hour in {minute // 60, (minute + 1) // 60}:
            key = keyspace.key("activity_counts", guilds[name], hour)
            counted += int(await redis.hget(key, "xp") or 0)
        assert counted == 20 * len(earners), name


async def test_late_voice_records_never_undo_newer_ones_and_guild_records_replace_the_list(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace, orm: None
) -> None:
    guild = 920_000_000_000_000_001
    now = int(time.time() * 1000)
    async with running_worker(settings_with(), redis_url, keyspace, load_tasks(), ("xp",)):
        batch = [
            voice(guild, 1, LOUNGE, now),
            voice(guild, 2, LOUNGE, now),
            voice(guild, 2, None, now + 10),  # left
            voice(guild, 2, LOUNGE, now + 5),  # arrives later, happened earlier: ignored
            voice(guild, 3, LOUNGE, now - 50_000),  # only in voice before the guild record
        ]
        await enqueue(
            redis, keyspace, PROCESS_BATCH_TASK, [r.model_dump(mode="json") for r in batch]
        )
        await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="drained")
        guild_record = GuildRecord(
            guild_id=guild,
            name="late",
            owner_id=1,
            afk_channel_id=None,
            voice_states=(voice(guild, 1, LOUNGE, now - 1000), voice(guild, 4, LOUNGE, now - 1000)),
            timestamp_ms=now - 1000,
        )
        await enqueue(redis, keyspace, PROCESS_BATCH_TASK, [guild_record.model_dump(mode="json")])
        await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="drained")
        await enqueue(redis, keyspace, VOICE_TICK_TASK, minute=now // 60_000)
        await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="drained")
    # 1 (newer than the guild record), 4 (listed by it) earn; 2 left; 3 was dropped by it.
    assert await voice_xp(redis, keyspace, guild) == {1: 10, 4: 10}


async def test_a_guild_record_drops_states_page_by_page_whatever_the_hash_holds(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    """A guild record's replacement is done in bounded pages (no script reads the whole
    hash, which holds every member who left voice since the last guild record)."""
    from townsquare.features.xp.domain.voice import apply_guild_record, apply_voice_records

    guild = 920_000_000_000_000_002
    now = int(time.time() * 1000)
    left = [voice(guild, 10_000 + n, None, now - 5_000) for n in range(1_234)]
    newer = [voice(guild, 20_000 + n, LOUNGE, now + 1_000) for n in range(3)]
    await apply_voice_records(redis, keyspace, left + newer)
    record = GuildRecord(
        guild_id=guild,
        name="g",
        owner_id=1,
        afk_channel_id=None,
        voice_states=(voice(guild, 10_000, LOUNGE, now), voice(guild, 1, LOUNGE, now)),
        timestamp_ms=now,
    )
    await apply_guild_record(redis, keyspace, record)
    stored = await redis.hkeys(keyspace.key("xp_voice", guild))
    assert sorted(int(member) for member in stored) == [1, 10_000, 20_000, 20_001, 20_002]
    assert await redis.sismember(keyspace.key("xp_voice_guilds"), str(guild))
    # A record listing nobody, newer than every state: the guild leaves the voice list.
    empty = record.model_copy(update={"voice_states": (), "timestamp_ms": now + 2_000})
    await apply_guild_record(redis, keyspace, empty)
    assert not await redis.exists(keyspace.key("xp_voice", guild))
    assert not await redis.sismember(keyspace.key("xp_voice_guilds"), str(guild))


async def test_a_late_tick_pays_the_minute_it_fired_in_and_a_stale_one_pays_nothing(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace, orm: None
) -> None:
    """Ticks fired by the real scheduler through the installed schedule, delivered after the
    minute they fired in: each pays its own minute, not the one it happens to run in."""
    guild = 920_000_000_000_000_003
    await configure(
        guild,
        xp={
            "voice": {
                "enabled": True,
                "xp_per_minute": 10,
                "count_self_muted": False,
                "min_members": 2,
            }
        },
        levels={"notice": {"mode": "off", "channel_id": None, "template": "{user}"}},
    )
    now = int(time.time() * 1000)
    batch = [voice(guild, 1, LOUNGE, now), voice(guild, 2, LOUNGE, now)]
    seconds, _ = await redis.time()
    current = int(seconds) // 60
    registry = load_tasks()
    settings = settings_with()
    source = make_schedule_source(redis_url, keyspace)
    fired_in: list[int] = []
    scheduler = PipelineScheduler(
        make_brokers(settings, redis_url, keyspace, registry=registry),
        registry,
        [source],
        clock=lambda: datetime.datetime.fromtimestamp(fired_in[-1] * 60 + 3, datetime.UTC),
    )
    await scheduler.startup()
    try:
        await install_schedules(source, xp_schedules())
        [tick] = [t for t in await source.get_schedules() if t.task_name == VOICE_TICK_TASK]
        async with running_worker(settings, redis_url, keyspace, registry, ("xp",)):
            await enqueue(
                redis, keyspace, PROCESS_BATCH_TASK, [r.model_dump(mode="json") for r in batch]
            )
            await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="drained")
            # Fired in the previous minute, delivered in this one (its worker was killed,
            # say); then this minute's own tick, twice; then one from before an outage.
            for minute in (current - 1, current, current, current - TICK_LATE_LIMIT_MINUTES - 1):
                fired_in.append(minute)
                await scheduler.on_ready(source, tick)
            await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="drained")
    finally:
        await scheduler.shutdown()
        await source.shutdown()
    assert await voice_xp(redis, keyspace, guild) == {1: 20, 2: 20}
    minutes = await redis.hgetall(keyspace.key("xp_voice_minutes", guild))
    assert {int(m): int(v) for m, v in minutes.items()} == {1: 2, 2: 2}
