"""A guild's XP is loaded from PostgreSQL before it is written or read: after a Redis loss
nothing starts from 0, and the flush never overwrites a row with a smaller total.

A loss is simulated by deleting every key of the test's namespace (a restart without
persistence), after the members' totals were flushed.
"""

from __future__ import annotations

import asyncio
import json
import time
import typing

import pytest
from redis.exceptions import ResponseError

from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.xp import SETTINGS, message, reference_totals
from townsquare.core.audit.models import ActorKind, AuditEntry
from townsquare.core.audit.service import Actor
from townsquare.core.events.wire import DATA_FIELD
from townsquare.core.guilds.service import ensure_guild
from townsquare.features.xp.domain import hydrate
from townsquare.features.xp.domain.admin import GuildXPAdmin, adjust_totals
from townsquare.features.xp.domain.award import award_messages
from townsquare.features.xp.domain.config import XPSection
from townsquare.features.xp.domain.curve import curve_for
from townsquare.features.xp.domain.flush import flush_guild
from townsquare.features.xp.domain.hydrate import LOAD_CHUNK, ensure_guild_xp, load_guild_xp
from townsquare.features.xp.domain.leaderboard import leaderboard_page, member_standing
from townsquare.features.xp.domain.levels import sync_levels
from townsquare.features.xp.domain.models import MemberXP
from townsquare.features.xp.domain.voice import award_voice_minute

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

GUILD = 950_000_000_000_000_001
XP = SETTINGS.guild_defaults.section(XPSection)
CURVE = curve_for(XP)
ADMIN = Actor(ActorKind.USER, 42, "admin")
HASHES = ("xp", "xp_messages", "xp_voice_minutes", "xp_levels")

Totals = dict[int, tuple[int, int, int]]
"""Member -> (xp, message count, voice minutes)."""


async def seed(redis: aioredis.Redis, keyspace: Keyspace, totals: Totals) -> None:
    """Members with these totals and their levels applied, flushed to PostgreSQL."""
    changes = [(member, *values) for member, values in totals.items()]
    await adjust_totals(redis, keyspace, GUILD, changes, mode="set", curve=CURVE, notify=False)
    assert await flush_guild(redis, keyspace, GUILD, CURVE) == len(totals)


async def lose_redis(redis: aioredis.Redis, keyspace: Keyspace) -> None:
    """Everything Redis held for the deployment is gone, the marker included."""
    async for key in redis.scan_iter(match=f"{keyspace.namespace}:*", count=1000):
        await redis.delete(key)


async def rows() -> dict[int, tuple[int, int, int, int]]:
    found = await MemberXP.filter(guild_id=GUILD).values_list(
        "user_id", "xp", "level", "message_count", "voice_minutes"
    )
    return {int(u): (int(x), int(lv), int(c), int(v)) for u, x, lv, c, v in found}


async def hashes(redis: aioredis.Redis, keyspace: Keyspace) -> dict[str, dict[int, int]]:
    out = {}
    for family in HASHES:
        raw = await redis.hgetall(keyspace.key(family, GUILD))
        out[family] = {int(m): int(v) for m, v in raw.items()}
    return out


async def level_jobs(redis: aioredis.Redis, keyspace: Keyspace) -> list[tuple[int, int, int]]:
    """(member, previous, level) of every `xp.apply_level` job queued."""
    entries = await redis.xrange(keyspace.key("stream", "jobs"))
    jobs = [json.loads(fields[DATA_FIELD.encode()]) for _, fields in entries]
    return [
        (job["args"][1], job["kwargs"]["previous"], job["kwargs"]["level"])
        for job in jobs
        if job["task_name"] == "xp.apply_level"
    ]


async def test_a_message_after_a_loss_adds_to_the_postgres_total(
    redis: aioredis.Redis, keyspace: Keyspace, orm: None
) -> None:
    # Both at level 2 (255..474 XP); one message takes 12 to level 3, not 11.
    await seed(redis, keyspace, {11: (300, 40, 5), 12: (470, 60, 0)})
    await lose_redis(redis, keyspace)

    now = int(time.time() * 1000)
    records = [message(GUILD, 11, 1, now), message(GUILD, 12, 2, now)]
    gained = reference_totals(records, SETTINGS.guild_defaults)
    outcome = await award_messages(redis, keyspace, GUILD, XP, records)
    assert outcome.totals == {11: 300 + gained[11], 12: 470 + gained[12]}
    assert outcome.applied_levels == {11: 2, 12: 2}
    await sync_levels(
        redis,
        keyspace,
        GUILD,
        CURVE,
        outcome.totals,
        channel_by_member=outcome.last_channel,
        applied=outcome.applied_levels,
    )
    assert await level_jobs(redis, keyspace) == [(12, 2, 3)]  # no second notice for level 2

    assert await flush_guild(redis, keyspace, GUILD, CURVE) == 2
    assert await rows() == {
        11: (300 + gained[11], 2, 41, 5),
        12: (470 + gained[12], 3, 61, 0),
    }


async def test_a_voice_minute_after_a_loss_adds_to_the_postgres_total(
    redis: aioredis.Redis, keyspace: Keyspace, orm: None
) -> None:
    await seed(redis, keyspace, {21: (300, 40, 30), 22: (100, 0, 10)})
    await lose_redis(redis, keyspace)

    minute = int(time.time()) // 60
    paid = await award_voice_minute(
        redis, keyspace, GUILD, minute=minute, members=[21, 22], xp_per_minute=10
    )
    # The refused first try set no done marker: the retry after the load pays the minute.
    assert paid == {21: 310, 22: 110}
    await sync_levels(redis, keyspace, GUILD, CURVE, paid)
    assert await level_jobs(redis, keyspace) == []
    assert (
        await award_voice_minute(
            redis, keyspace, GUILD, minute=minute, members=[21, 22], xp_per_minute=10
        )
        is None
    )

    assert await flush_guild(redis, keyspace, GUILD, CURVE) == 2
    assert await rows() == {21: (310, 2, 40, 31), 22: (110, 1, 0, 11)}


async def test_an_admin_add_after_a_loss_adds_to_the_postgres_total(
    redis: aioredis.Redis, keyspace: Keyspace, orm: None
) -> None:
    await seed(redis, keyspace, {31: (300, 40, 5)})
    await lose_redis(redis, keyspace)

    assert await GuildXPAdmin(redis, keyspace, GUILD, CURVE, ADMIN).add(31, 50) == 350
    assert await level_jobs(redis, keyspace) == []
    [entry] = await AuditEntry.filter(guild_id=GUILD, action="xp.add")
    assert (entry.before, entry.after) == ({"xp": 300}, {"xp": 350})
    assert await flush_guild(redis, keyspace, GUILD, CURVE) == 1
    assert await rows() == {31: (350, 2, 40, 5)}


async def test_the_leaderboard_after_a_loss_shows_the_postgres_totals(
    redis: aioredis.Redis, keyspace: Keyspace, orm: None
) -> None:
    await seed(redis, keyspace, {41: (500, 0, 0), 42: (900, 0, 0), 43: (0, 3, 0)})
    await lose_redis(redis, keyspace)

    board = await leaderboard_page(redis, keyspace, GUILD, 1, curve=CURVE)
    assert [(e.rank, e.user_id, e.xp, e.level) for e in board.entries] == [
        (1, 42, 900, 4),
        (2, 41, 500, 3),
    ]
    await lose_redis(redis, keyspace)
    standing = await member_standing(redis, keyspace, GUILD, 41, curve=CURVE)
    assert (standing.rank, standing.xp, standing.level, standing.ranked) == (2, 500, 3, 2)


async def test_an_upgraded_redis_with_data_but_no_marker_keeps_its_newer_values(
    redis: aioredis.Redis, keyspace: Keyspace, orm: None
) -> None:
    await seed(redis, keyspace, {51: (300, 40, 5), 52: (200, 20, 0)})
    # Since the flush, 51 earned more (not flushed yet); 52 is missing from Redis. The
    # deployment predates the marker.
    await adjust_totals(redis, keyspace, GUILD, [(51, 50, 3, None)], mode="add", curve=CURVE)
    for family in HASHES:
        await redis.hdel(keyspace.key(family, GUILD), "52")
    await redis.delete(keyspace.key("xp_loaded", GUILD))

    assert await load_guild_xp(redis, keyspace, GUILD) == 1  # only 52 came from PostgreSQL
    assert await hashes(redis, keyspace) == {
        "xp": {51: 350, 52: 200},
        "xp_messages": {51: 43, 52: 20},
        "xp_voice_minutes": {51: 5},
        "xp_levels": {51: 2, 52: 1},
    }
    assert await flush_guild(redis, keyspace, GUILD, CURVE) == 1
    assert (await rows())[51] == (350, 2, 43, 5)


async def test_concurrent_loads_and_a_racing_write_give_the_same_result(
    redis: aioredis.Redis, keyspace: Keyspace, orm: None
) -> None:
    # More members than one chunk, so the loads interleave between their Lua calls.
    members = {10**17 + n: (n * 37 % 2000, n % 50, n % 7) for n in range(1, 2 * LOAD_CHUNK + 501)}
    await ensure_guild(GUILD)
    await MemberXP.bulk_create(
        [
            MemberXP(
                guild_id=GUILD,
                user_id=m,
                xp=xp,
                level=CURVE.level_for(xp),
                message_count=count,
                voice_minutes=minutes,
            )
            for m, (xp, count, minutes) in members.items()
        ]
    )

    def expected(extra: dict[int, int]) -> dict[str, dict[int, int]]:
        def nonzero(values: dict[int, int]) -> dict[int, int]:
            return {m: v for m, v in values.items() if v}

        return {
            "xp": nonzero({m: xp + extra.get(m, 0) for m, (xp, _, _) in members.items()}),
            "xp_messages": nonzero({m: count for m, (_, count, _) in members.items()}),
            "xp_voice_minutes": nonzero({m: minutes for m, (_, _, minutes) in members.items()}),
            "xp_levels": nonzero({m: CURVE.level_for(xp) for m, (xp, _, _) in members.items()}),
        }

    first, second = await asyncio.gather(
        load_guild_xp(redis, keyspace, GUILD), load_guild_xp(redis, keyspace, GUILD)
    )
    assert first + second == len(members)  # each member came from exactly one of them
    assert await hashes(redis, keyspace) == expected({})

    await lose_redis(redis, keyspace)
    chosen = 10**17 + 1234
    await asyncio.gather(
        load_guild_xp(redis, keyspace, GUILD),
        GuildXPAdmin(redis, keyspace, GUILD, CURVE, ADMIN).add(chosen, 7),
        load_guild_xp(redis, keyspace, GUILD),
    )
    assert await hashes(redis, keyspace) == expected({chosen: 7})


async def test_reset_guild_after_a_loss_reaches_members_only_postgres_knows(
    redis: aioredis.Redis, keyspace: Keyspace, orm: None
) -> None:
    await seed(redis, keyspace, {61: (300, 4, 0), 62: (80, 2, 0)})
    await lose_redis(redis, keyspace)

    assert await GuildXPAdmin(redis, keyspace, GUILD, CURVE, ADMIN).reset_guild() == 2
    assert await level_jobs(redis, keyspace) == [(61, 2, 0)]  # its reward roles go
    assert await redis.exists(keyspace.key("xp_loaded", GUILD))
    assert await flush_guild(redis, keyspace, GUILD, CURVE) == 2
    assert await rows() == {61: (0, 0, 0, 0), 62: (0, 0, 0, 0)}


def _award(redis: aioredis.Redis, keyspace: Keyspace) -> Awaitable[object]:
    return award_messages(
        redis, keyspace, GUILD, XP, [message(GUILD, 71, 1, int(time.time() * 1000))]
    )


def _voice(redis: aioredis.Redis, keyspace: Keyspace) -> Awaitable[object]:
    return award_voice_minute(redis, keyspace, GUILD, minute=1, members=[71], xp_per_minute=10)


def _admin(redis: aioredis.Redis, keyspace: Keyspace) -> Awaitable[object]:
    return adjust_totals(redis, keyspace, GUILD, [(71, 5, None, None)], mode="add", curve=CURVE)


@pytest.mark.parametrize("write", [_award, _voice, _admin])
async def test_without_a_load_every_writer_refuses_and_writes_nothing(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    monkeypatch: pytest.MonkeyPatch,
    write: Callable[[aioredis.Redis, Keyspace], Awaitable[object]],
) -> None:
    # A load that never sets the marker: only the scripts' own check stands in the way.
    async def no_load(*_: object, **__: object) -> int:
        return 0

    monkeypatch.setattr(hydrate, "load_guild_xp", no_load)
    with pytest.raises(ResponseError, match="XP_NOT_LOADED"):
        await write(redis, keyspace)
    assert [key async for key in redis.scan_iter(match=f"{keyspace.namespace}:*")] == []


async def test_a_loaded_guild_is_not_loaded_again(
    redis: aioredis.Redis, keyspace: Keyspace, orm: None
) -> None:
    await seed(redis, keyspace, {81: (300, 0, 0)})
    await redis.hdel(keyspace.key("xp", GUILD), "81")  # the marker says Redis knows best
    await ensure_guild_xp(redis, keyspace, GUILD)
    assert (await hashes(redis, keyspace))["xp"] == {}


def watch_pages(
    monkeypatch: pytest.MonkeyPatch, before: Callable[[int], Awaitable[None]] | None = None
) -> list[int]:
    """Counts the loads' PostgreSQL pages of GUILD (one query each) in `[0]`; `before(n)` runs
    first. Other queries on the connection (a task another test left running) are not counted."""
    connection = hydrate.Tortoise.get_connection("default")
    query = connection.execute_query_dict
    pages = [0]

    async def counted(sql: str, values: list[typing.Any]) -> list[dict[str, typing.Any]]:
        if not (sql == hydrate._PAGE and values and values[0] == GUILD):
            return await query(sql, values)
        pages[0] += 1
        if before is not None:
            await before(pages[0])
        return await query(sql, values)

    monkeypatch.setattr(connection, "execute_query_dict", counted)
    return pages


@pytest.mark.usefixtures("orm")
async def test_a_loss_during_a_load_starts_it_over_instead_of_vouching_for_half(
    redis: aioredis.Redis, keyspace: Keyspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    totals = {100 + n: (50 * (n + 1), n + 1, n) for n in range(5)}
    await seed(redis, keyspace, totals)
    await lose_redis(redis, keyspace)
    # Redis loses everything again after the load has written its first page of two rows.

    async def lose_before_the_second(page: int) -> None:
        if page == 2:
            await lose_redis(redis, keyspace)

    pages = watch_pages(monkeypatch, lose_before_the_second)
    await load_guild_xp(redis, keyspace, GUILD, chunk=2)

    # The interrupted load did not set the marker over the last rows only: it started over.
    assert pages[0] > 3
    assert await redis.exists(keyspace.key("xp_loaded", GUILD))
    assert (await hashes(redis, keyspace))["xp"] == {m: xp for m, (xp, _, _) in totals.items()}
    assert not [key async for key in redis.scan_iter(match=keyspace.pattern("xp_loading"))]


@pytest.mark.usefixtures("orm")
async def test_a_load_cancelled_midway_takes_its_loading_key_with_it(
    redis: aioredis.Redis, keyspace: Keyspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker stopping mid-load (its task cancelled) once left the key for its 600 s TTL,
    # which the chaos run counts as a lease left after a clean stop.
    totals = {150 + n: (20 * (n + 1), 1, 0) for n in range(4)}
    await seed(redis, keyspace, totals)
    await lose_redis(redis, keyspace)
    on_second_page = asyncio.Event()

    async def stall_on_the_second(page: int) -> None:
        if page == 2:
            on_second_page.set()
            await asyncio.Event().wait()

    watch_pages(monkeypatch, stall_on_the_second)
    load = asyncio.create_task(load_guild_xp(redis, keyspace, GUILD, chunk=2))
    await on_second_page.wait()
    assert [key async for key in redis.scan_iter(match=keyspace.pattern("xp_loading"))]
    load.cancel()
    with pytest.raises(asyncio.CancelledError):
        await load
    assert not [key async for key in redis.scan_iter(match=keyspace.pattern("xp_loading"))]
    assert not await redis.exists(keyspace.key("xp_loaded", GUILD))


@pytest.mark.usefixtures("orm")
async def test_callers_of_one_process_share_one_load_after_a_loss(
    redis: aioredis.Redis, keyspace: Keyspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    totals = {200 + n: (30 * (n + 1), 1, 0) for n in range(5)}
    await seed(redis, keyspace, totals)
    await lose_redis(redis, keyspace)
    pages = watch_pages(monkeypatch)
    readers = [ensure_guild_xp(redis, keyspace, GUILD) for _ in range(20)]
    standings = [member_standing(redis, keyspace, GUILD, 200, curve=CURVE) for _ in range(5)]
    await asyncio.gather(*readers, *standings)
    assert pages[0] == 1  # one load (one page of five rows) for all 25 callers
    assert (await hashes(redis, keyspace))["xp"] == {m: xp for m, (xp, _, _) in totals.items()}


@pytest.mark.usefixtures("orm")
async def test_a_refusal_read_after_another_callers_load_does_not_load_again(
    redis: aioredis.Redis, keyspace: Keyspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The interleaving a busy process can produce: a writer's script is refused (no marker),
    # then, before the writer reads that answer, a reader loads the guild.
    totals = {300 + n: (40 * (n + 1), 1, 0) for n in range(3)}
    await seed(redis, keyspace, totals)
    await lose_redis(redis, keyspace)
    pages = watch_pages(monkeypatch)
    marker = keyspace.key("xp_loaded", GUILD)
    gated = redis.register_script(hydrate.require_loaded("KEYS[1]") + "return 1")
    refused_once = False

    async def write_refused_before_the_load() -> object:
        nonlocal refused_once
        try:
            return await gated(keys=[marker])
        except ResponseError:
            if refused_once:
                raise
            refused_once = True
            await ensure_guild_xp(redis, keyspace, GUILD)  # the other caller's load, meanwhile
            raise

    await hydrate.run_loaded(redis, keyspace, GUILD, write_refused_before_the_load)
    assert refused_once
    assert pages[0] == 1  # the reader's load served the writer too
    assert await redis.exists(marker)
