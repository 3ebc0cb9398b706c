"""Message XP through a real worker: exact totals against an independent reference model, in
Redis and after a flush in PostgreSQL; duplicates, shuffles, late records, a worker that died
after awarding, and replays leave every total exact."""

from __future__ import annotations

import itertools
import json
import random
import time
import typing

import pytest

from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.waiting import wait_until
from tests.support.workers import running_worker, settings_with
from tests.support.xp import (
    configure,
    drained,
    message,
    reference_levels,
    reference_totals,
    send_batch,
)
from townsquare.core.events import encode_job
from townsquare.core.events.wire import DATA_FIELD
from townsquare.core.keyspace import guild_bucket
from townsquare.features.xp.domain.award import LATENESS_WINDOW_MS, award_messages
from townsquare.features.xp.domain.config import XPSection
from townsquare.features.xp.domain.models import MemberXP
from townsquare.features.xp.tasks import FLUSH_TASK
from townsquare.tasks.registry import load_tasks

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.config.schemas import GuildConfig
    from townsquare.core.events import MessageRecord
    from townsquare.core.keyspace import Keyspace

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

GUILD = 900_000_000_000_000_001
MEMBERS = (11, 12, 13, 14)
BOOST_ROLE, QUIET_ROLE = 7001, 7002
BONUS_CHANNEL, SILENT_CHANNEL = 501, 502
WITHIN = 45.0


def chosen_messages(now: int, count: int, seed: int) -> list[MessageRecord]:
    """`count` messages of the members, 0-300 s apart per member, in the last half hour."""
    rng = random.Random(seed)
    records = []
    clocks = dict.fromkeys(MEMBERS, now - 1_800_000)
    for n in range(count):
        member = MEMBERS[n % len(MEMBERS)]
        clocks[member] += rng.choice((0, 1_000, 30_000, 59_999, 60_000, 61_000, 150_000))
        channel = rng.choice((500, 500, BONUS_CHANNEL, SILENT_CHANNEL))
        roles = rng.choice(((), (BOOST_ROLE,), (QUIET_ROLE,)))
        records.append(
            message(GUILD, member, 10_000 + n, clocks[member], channel=channel, roles=roles)
        )
    return records


async def xp_config(guild: int = GUILD) -> GuildConfig:
    return await configure(
        guild,
        xp={
            "role_multipliers": {str(BOOST_ROLE): 1.5},
            "channel_multipliers": {str(BONUS_CHANNEL): 1.1},
            "no_xp_channel_ids": [SILENT_CHANNEL],
            "no_xp_role_ids": [QUIET_ROLE],
        },
        levels={"notice": {"mode": "off", "channel_id": None, "template": "{user} {level}"}},
    )


async def redis_totals(redis: aioredis.Redis, keyspace: Keyspace, guild: int) -> dict[int, int]:
    raw = await redis.hgetall(keyspace.key("xp", guild))
    return {int(member): int(total) for member, total in raw.items()}


async def queued_level_jobs(redis: aioredis.Redis, keyspace: Keyspace) -> list[dict[str, object]]:
    entries = await redis.xrange(keyspace.key("stream", "jobs"))
    jobs = [json.loads(fields[DATA_FIELD.encode()]) for _, fields in entries]
    return [job for job in jobs if job["task_name"] == "xp.apply_level"]


def nonzero(totals: dict[int, int]) -> dict[int, int]:
    return {member: total for member, total in totals.items() if total}


async def test_a_batch_earns_exactly_the_reference_xp_and_redelivery_changes_nothing(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace, orm: None
) -> None:
    config = await xp_config()
    now = int(time.time() * 1000)
    records = chosen_messages(now, 120, seed=1)
    expected = nonzero(reference_totals(records, config))
    assert len(expected) >= 3  # the scenario really awards several members

    async with running_worker(settings_with(), redis_url, keyspace, load_tasks(), ("xp",)):
        for start in range(0, len(records), 40):  # three batches, in time order
            await send_batch(redis, keyspace, records[start : start + 40])
        await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="drained")
        assert await redis_totals(redis, keyspace, GUILD) == expected
        counts = await redis.hgetall(keyspace.key("xp_messages", GUILD))
        assert {int(m): int(c) for m, c in counts.items()} == dict.fromkeys(MEMBERS, 30)

        jobs_before = await queued_level_jobs(redis, keyspace)
        # The same batches again: all at once, shuffled, plus late duplicates one by one.
        shuffled = list(records)
        random.Random(2).shuffle(shuffled)
        await send_batch(redis, keyspace, shuffled)
        for record in random.Random(3).sample(records, 10):
            await send_batch(redis, keyspace, [record])
        await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="drained")
    assert await redis_totals(redis, keyspace, GUILD) == expected
    counts = await redis.hgetall(keyspace.key("xp_messages", GUILD))
    assert {int(m): int(c) for m, c in counts.items()} == dict.fromkeys(MEMBERS, 30)

    levels = reference_levels(expected)
    applied = await redis.hgetall(keyspace.key("xp_levels", GUILD))
    assert {int(m): int(level) for m, level in applied.items()} == {
        m: level for m, level in levels.items() if level
    }
    jobs = await queued_level_jobs(redis, keyspace)
    assert jobs == jobs_before  # redeliveries queued no level job
    last_level = {job["args"][1]: job["kwargs"]["level"] for job in jobs}
    assert last_level == {m: level for m, level in levels.items() if level}


async def test_a_shuffled_batch_awards_the_same_as_the_ordered_one(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace, orm: None
) -> None:
    config = await xp_config()
    records = chosen_messages(int(time.time() * 1000), 80, seed=5)
    shuffled = list(records)
    random.Random(6).shuffle(shuffled)
    async with running_worker(settings_with(), redis_url, keyspace, load_tasks(), ("xp",)):
        await send_batch(redis, keyspace, shuffled)
        await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="drained")
    assert await redis_totals(redis, keyspace, GUILD) == nonzero(reference_totals(records, config))


async def test_late_records_never_break_the_cooldown_and_old_ones_are_rejected(
    redis: aioredis.Redis, keyspace: Keyspace, orm: None
) -> None:
    config = await xp_config()
    now = int(time.time() * 1000)
    first = message(GUILD, 11, 1, now - 100_000)
    later = message(GUILD, 11, 2, now)  # 100 s after the first: earns
    await award_messages(redis, keyspace, GUILD, config.section(XPSection), [first, later])
    both = reference_totals([first, later], config)[11]
    # Late messages between the two, each within 60 s of an awarded one: nothing.
    between = [message(GUILD, 11, 3, now - 50_000), message(GUILD, 11, 4, now - 41_000)]
    outcome = await award_messages(redis, keyspace, GUILD, config.section(XPSection), between)
    assert outcome.gained == {11: 0}
    assert outcome.counted == {11: 2}
    # Late but far enough from both: earns.
    early = message(GUILD, 11, 5, now - 200_000)
    outcome = await award_messages(redis, keyspace, GUILD, config.section(XPSection), [early])
    assert outcome.totals[11] == both + reference_totals([early], config)[11]
    # Older than the lateness window: neither counted nor awarded.
    ancient = message(GUILD, 11, 6, now - LATENESS_WINDOW_MS - 60_000)
    outcome = await award_messages(redis, keyspace, GUILD, config.section(XPSection), [ancient])
    assert outcome.gained == {11: 0}
    assert outcome.counted == {11: 0}


async def test_a_worker_that_died_after_awarding_loses_no_level_up_and_replays_stay_exact(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace, orm: None
) -> None:
    config = await xp_config()
    now = int(time.time() * 1000)
    records = chosen_messages(now, 100, seed=9)
    expected = nonzero(reference_totals(records, config))
    # A worker ran the award script for the batch, then died before the level check and the
    # acknowledgement: the stream still holds the batch, to be delivered again.
    await award_messages(redis, keyspace, GUILD, config.section(XPSection), records)
    assert await redis_totals(redis, keyspace, GUILD) == expected
    assert not await redis.exists(keyspace.key("xp_levels", GUILD))
    await send_batch(redis, keyspace, records)
    async with running_worker(settings_with(), redis_url, keyspace, load_tasks(), ("xp",)):
        await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="drained")
        await send_batch(redis, keyspace, records)  # an operator replays it once more
        await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="drained")
    assert await redis_totals(redis, keyspace, GUILD) == expected
    levels = {m: level for m, level in reference_levels(expected).items() if level}
    jobs = await queued_level_jobs(redis, keyspace)
    assert sorted((job["args"][1], job["kwargs"]["level"]) for job in jobs) == sorted(
        levels.items()
    )


async def test_flush_writes_absolute_totals_to_postgres(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace, orm: None
) -> None:
    config = await xp_config()
    records = chosen_messages(int(time.time() * 1000), 60, seed=11)
    expected = nonzero(reference_totals(records, config))
    levels = reference_levels(expected)

    async def rows() -> dict[int, tuple[int, int, int]]:
        found = await MemberXP.filter(guild_id=GUILD).values_list(
            "user_id", "xp", "level", "message_count"
        )
        return {int(u): (int(x), int(lv), int(c)) for u, x, lv, c in found}

    async with running_worker(settings_with(), redis_url, keyspace, load_tasks(), ("xp", "jobs")):
        await send_batch(redis, keyspace, records)
        await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="drained")
        for _ in range(2):  # a second flush finds nothing dirty and changes nothing
            await redis.xadd(keyspace.key("stream", "jobs"), {DATA_FIELD: encode_job(FLUSH_TASK)})
            await wait_until(
                lambda: drained(redis, keyspace, "jobs"), within=WITHIN, what="flushed"
            )
    want = {m: (expected.get(m, 0), levels.get(m, 0), 15) for m in MEMBERS}
    assert await rows() == want
    assert not await redis.exists(keyspace.key("xp_dirty", GUILD))
    assert not await redis.sismember(keyspace.key("xp_dirty_guilds", guild_bucket(GUILD)), GUILD)


async def test_a_member_awarded_during_the_flush_stays_dirty(
    redis: aioredis.Redis, keyspace: Keyspace, orm: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tortoise import Tortoise

    from townsquare.features.xp.domain import flush as flush_module
    from townsquare.features.xp.domain.curve import curve_for
    from townsquare.features.xp.domain.flush import flush_guild

    config = await xp_config()
    now = int(time.time() * 1000)
    await award_messages(
        redis, keyspace, GUILD, config.section(XPSection), [message(GUILD, 11, 1, now - 90_000)]
    )
    first = (await redis_totals(redis, keyspace, GUILD))[11]
    late = message(GUILD, 11, 2, now)
    real = Tortoise.get_connection("default")

    class AwardDuringUpsert:
        async def execute_query(self, query: str, values: list[object]) -> object:
            if "member_xp" in query:  # the upsert: a batch lands between snapshot and write
                await award_messages(redis, keyspace, GUILD, config.section(XPSection), [late])
            return await real.execute_query(query, values)

    monkeypatch.setattr(flush_module.Tortoise, "get_connection", lambda _: AwardDuringUpsert())
    assert await flush_guild(redis, keyspace, GUILD, curve_for(config.section(XPSection))) == 1
    row = await MemberXP.get(guild_id=GUILD, user_id=11)
    assert row.xp == first
    assert await redis.hexists(keyspace.key("xp_dirty", GUILD), "11")
    monkeypatch.undo()
    assert await flush_guild(redis, keyspace, GUILD, curve_for(config.section(XPSection))) == 1
    row = await MemberXP.get(guild_id=GUILD, user_id=11)
    assert row.xp == (await redis_totals(redis, keyspace, GUILD))[11] > first
    assert not await redis.exists(keyspace.key("xp_dirty", GUILD))


@pytest.mark.parametrize("seed", range(6))
async def test_any_arrival_order_and_batching_gives_the_reference_totals(
    redis: aioredis.Redis, keyspace: Keyspace, orm: None, seed: int
) -> None:
    config = await xp_config()
    rng = random.Random(seed)
    records = chosen_messages(int(time.time() * 1000), 120, seed=100 + seed)
    arrivals = records + rng.sample(records, 30)  # with duplicates
    rng.shuffle(arrivals)
    while arrivals:
        size = rng.randint(1, 25)
        batch, arrivals = arrivals[:size], arrivals[size:]
        await award_messages(redis, keyspace, GUILD, config.section(XPSection), batch)
    assert await redis_totals(redis, keyspace, GUILD) == nonzero(reference_totals(records, config))
    # No two awards of a member closer than the cooldown.
    for member in MEMBERS:
        scores = [
            int(score)
            for _, score in await redis.zrange(
                keyspace.key("xp_awarded", GUILD, member), 0, -1, withscores=True
            )
        ]
        assert all(b - a >= 60_000 for a, b in itertools.pairwise(scores))


async def test_an_unreadable_batch_is_dead_lettered_at_once(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace, orm: None
) -> None:
    bad = [{"kind": "message", "v": 2, "guild_id": GUILD}]  # a newer schema version
    await redis.xadd(
        keyspace.key("stream", "xp"), {DATA_FIELD: encode_job("xp.process_batch", bad)}
    )
    async with running_worker(settings_with(), redis_url, keyspace, load_tasks(), ("xp",)):
        await wait_until(
            lambda: redis.xlen(keyspace.key("dead_letter", "xp")), within=WITHIN, what="buried"
        )
    [(_, letter)] = await redis.xrange(keyspace.key("dead_letter", "xp"))
    assert letter[b"attempts"] == b"1"
    assert b"unreadable XP batch" in letter[b"error"]
