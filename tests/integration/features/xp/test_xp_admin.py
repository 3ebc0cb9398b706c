"""Admin operations on XP and the MEE6 import, against real Redis and PostgreSQL."""

from __future__ import annotations

import json
import typing

import pytest

from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.xp import SETTINGS
from townsquare.core.audit.models import ActorKind, AuditEntry
from townsquare.core.audit.service import Actor
from townsquare.core.events.wire import DATA_FIELD
from townsquare.features.xp.domain.admin import GuildXPAdmin
from townsquare.features.xp.domain.config import XPSection
from townsquare.features.xp.domain.curve import curve_for
from townsquare.features.xp.domain.flush import flush_guild
from townsquare.features.xp.domain.mee6 import Mee6ImportError, import_mee6
from townsquare.features.xp.domain.models import MemberXP

if typing.TYPE_CHECKING:
    from pathlib import Path

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

GUILD = 930_000_000_000_000_001
CURVE = curve_for(SETTINGS.guild_defaults.section(XPSection))
ADMIN = Actor(ActorKind.USER, 42, "admin")


def admin(redis: aioredis.Redis, keyspace: Keyspace) -> GuildXPAdmin:
    return GuildXPAdmin(redis, keyspace, GUILD, CURVE, ADMIN)


async def level_jobs(redis: aioredis.Redis, keyspace: Keyspace) -> list[tuple[int, int, int, bool]]:
    entries = await redis.xrange(keyspace.key("stream", "jobs"))
    jobs = [json.loads(fields[DATA_FIELD.encode()]) for _, fields in entries]
    return [
        (job["args"][1], job["kwargs"]["previous"], job["kwargs"]["level"], job["kwargs"]["notify"])
        for job in jobs
        if job["task_name"] == "xp.apply_level"
    ]


async def total(redis: aioredis.Redis, keyspace: Keyspace, user: int) -> int:
    return int(await redis.hget(keyspace.key("xp", GUILD), str(user)) or 0)


async def test_add_remove_set_and_reset_a_member(
    redis: aioredis.Redis, keyspace: Keyspace, orm: None
) -> None:
    assert await admin(redis, keyspace).add(5, 300) == 300
    assert await admin(redis, keyspace).remove(5, 50) == 250
    assert await admin(redis, keyspace).remove(5, 10_000) == 0
    assert await admin(redis, keyspace).set(5, 1150) == 1150
    await admin(redis, keyspace).reset_member(5)
    assert await total(redis, keyspace, 5) == 0
    # Levels 0 -> 2 -> 1 -> 0 -> 5 -> 0; the reset applies roles without a notice.
    assert await level_jobs(redis, keyspace) == [
        (5, 0, 2, True),
        (5, 2, 1, True),
        (5, 1, 0, True),
        (5, 0, 5, True),
        (5, 5, 0, False),
    ]
    actions = (
        await AuditEntry.filter(guild_id=GUILD).order_by("id").values_list("action", "actor_id")
    )
    assert actions == [
        ("xp.add", 42),
        ("xp.remove", 42),
        ("xp.remove", 42),
        ("xp.set", 42),
        ("xp.reset_member", 42),
    ]
    assert await redis.hexists(keyspace.key("xp_dirty", GUILD), "5")
    with pytest.raises(ValueError, match="must not be negative"):
        await admin(redis, keyspace).set(5, -1)


async def test_reset_guild_zeroes_redis_and_postgres(
    redis: aioredis.Redis, keyspace: Keyspace, orm: None
) -> None:
    for user in (1, 2, 3):
        await admin(redis, keyspace).add(user, 100 * user)
    assert await flush_guild(redis, keyspace, GUILD, CURVE) == 3
    assert await admin(redis, keyspace).reset_guild() == 3
    assert [await total(redis, keyspace, user) for user in (1, 2, 3)] == [0, 0, 0]
    assert await MemberXP.filter(guild_id=GUILD, xp__gt=0).count() == 0
    assert await flush_guild(redis, keyspace, GUILD, CURVE) == 3
    assert set(await MemberXP.filter(guild_id=GUILD).values_list("xp", "level")) == {(0, 0)}


async def test_import_mee6_sets_totals_with_progress_and_is_repeatable(
    redis: aioredis.Redis, keyspace: Keyspace, orm: None, tmp_path: Path
) -> None:
    board = {
        "page": 0,
        "players": [
            {
                "id": "700000000000000001",
                "username": "a",
                "xp": 1150,
                "level": 5,
                "message_count": 80,
            },
            {"id": 700000000000000002, "xp": 99},
        ],
    }
    path = tmp_path / "leaderboard.json"
    path.write_text(json.dumps(board))
    seen: list[tuple[int, int]] = []
    for _ in range(2):
        imported = await import_mee6(
            redis, keyspace, path, GUILD, lambda d, t: seen.append((d, t)), curve=CURVE, actor=ADMIN
        )
        assert imported == 2
    assert seen == [(0, 2), (2, 2), (0, 2), (2, 2)]
    assert await total(redis, keyspace, 700000000000000001) == 1150
    assert await total(redis, keyspace, 700000000000000002) == 99
    counts = await redis.hgetall(keyspace.key("xp_messages", GUILD))
    assert counts == {b"700000000000000001": b"80"}
    # Roles follow the imported level, without notices, and only once.
    assert await level_jobs(redis, keyspace) == [(700000000000000001, 0, 5, False)]
    assert await AuditEntry.filter(guild_id=GUILD, action="xp.import_mee6").count() == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not JSON"),
        ('{"members": []}', "players: Field required"),
        ('{"players": [{"id": "x", "xp": 1}]}', "players.0.id"),
        ('{"players": [{"id": "1", "xp": -4}]}', "players.0.xp"),
        ('{"players": [{"id": "1", "xp": 1}, {"id": 1, "xp": 2}]}', "player 1 is listed twice"),
    ],
)
async def test_import_mee6_rejects_bad_files_before_writing(
    redis: aioredis.Redis, keyspace: Keyspace, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(Mee6ImportError, match=message):
        await import_mee6(redis, keyspace, path, GUILD, curve=CURVE, actor=ADMIN)
    assert not await redis.exists(keyspace.key("xp", GUILD))
