"""Leaderboard pages and member ranks from the Redis totals, against a real Redis."""

from __future__ import annotations

import typing

import pytest

from tests.support.xp import SETTINGS, mark_loaded
from townsquare.features.xp.domain.config import XPSection
from townsquare.features.xp.domain.curve import curve_for
from townsquare.features.xp.domain.leaderboard import (
    PageOutOfRangeError,
    leaderboard_page,
    member_standing,
    page_count,
)

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = pytest.mark.integration

GUILD = 930_000_000_000_000_002
CURVE = curve_for(SETTINGS.guild_defaults.section(XPSection))


@pytest.fixture(autouse=True)
async def loaded(redis: aioredis.Redis, keyspace: Keyspace) -> None:
    """These tests put totals in Redis directly, for a guild that counts as loaded."""
    await mark_loaded(redis, keyspace, GUILD)


async def put_totals(redis: aioredis.Redis, keyspace: Keyspace, totals: dict[int, int]) -> None:
    await redis.hset(keyspace.key("xp", GUILD), mapping={str(m): str(x) for m, x in totals.items()})


async def test_pages_order_by_xp_then_user_id_and_skip_members_without_xp(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    # 23 ranked members: every third one ties with its neighbour; two have no XP.
    totals = {1000 + n: 5000 - (n // 2) * 100 for n in range(23)} | {5: 0, 6: 0}
    await put_totals(redis, keyspace, totals)
    expected = sorted(((m, x) for m, x in totals.items() if x), key=lambda i: (-i[1], i[0]))

    pages = [await leaderboard_page(redis, keyspace, GUILD, p, curve=CURVE) for p in (1, 2, 3)]
    assert [(p.page, p.pages, p.ranked, len(p.entries)) for p in pages] == [
        (1, 3, 23, 10),
        (2, 3, 23, 10),
        (3, 3, 23, 3),
    ]
    entries = [e for p in pages for e in p.entries]
    assert [(e.user_id, e.xp) for e in entries] == expected
    assert [e.rank for e in entries] == list(range(1, 24))
    assert all(e.level == CURVE.level_for(e.xp) for e in entries)
    # Ties: the lower user id comes first, on every read.
    assert [e.user_id for e in entries[:2]] == [1000, 1001]


async def test_member_rank_matches_the_leaderboard(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    await put_totals(redis, keyspace, {7: 300, 3: 300, 9: 1200, 4: 0})
    board = await leaderboard_page(redis, keyspace, GUILD, 1, curve=CURVE)
    for entry in board.entries:
        standing = await member_standing(redis, keyspace, GUILD, entry.user_id, curve=CURVE)
        assert (standing.rank, standing.xp, standing.level, standing.ranked) == (
            entry.rank,
            entry.xp,
            entry.level,
            3,
        )
    assert [e.user_id for e in board.entries] == [9, 3, 7]
    for unranked in (4, 99):
        standing = await member_standing(redis, keyspace, GUILD, unranked, curve=CURVE)
        assert (standing.rank, standing.xp, standing.level) == (None, 0, 0)


async def test_pages_outside_the_range_are_refused(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    empty = await leaderboard_page(redis, keyspace, GUILD, 1, curve=CURVE)
    assert (empty.pages, empty.ranked, empty.entries) == (1, 0, ())
    await put_totals(redis, keyspace, {n: n for n in range(1, 12)})
    for page in (0, 3, -1):
        with pytest.raises(PageOutOfRangeError) as caught:
            await leaderboard_page(redis, keyspace, GUILD, page, curve=CURVE)
        assert caught.value.pages == 2
        assert "pages 1 to 2" in str(caught.value)


def test_page_count() -> None:
    assert [page_count(n) for n in (0, 1, 10, 11, 20, 21)] == [1, 1, 1, 2, 2, 3]


async def test_a_guild_larger_than_one_scan_chunk(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    # 2,500 members (several HSCAN chunks, and a hash too big for Redis' compact encoding),
    # with many ties: the scan must neither lose nor double anyone.
    totals = {10**17 + n: (n * 7919) % 50 for n in range(2500)}
    await put_totals(redis, keyspace, totals)
    expected = sorted(((m, x) for m, x in totals.items() if x), key=lambda i: (-i[1], i[0]))
    first = await leaderboard_page(redis, keyspace, GUILD, 1, curve=CURVE)
    assert first.ranked == len(expected)
    assert [(e.user_id, e.xp) for e in first.entries] == expected[:10]
    final = await leaderboard_page(redis, keyspace, GUILD, first.pages, curve=CURVE)
    assert [(e.user_id, e.xp) for e in final.entries] == expected[(first.pages - 1) * 10 :]
    for place in (0, 777, len(expected) - 1):
        member, xp = expected[place]
        standing = await member_standing(redis, keyspace, GUILD, member, curve=CURVE)
        assert (standing.rank, standing.xp) == (place + 1, xp)
