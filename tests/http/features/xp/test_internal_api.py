"""`/internal/v1`, the XP work behind the shards' commands: leaderboard pages, a member's
rank, validation, XP changes with audit, a guild reset, and refusals when XP is off.

Against the test run's PostgreSQL and a fresh Redis namespace, through `app.test_client()`.
"""

from __future__ import annotations

import typing

import pytest

from tests.support.web import error_code, service_bearer
from tests.support.xp import Totals
from townsquare.core.audit.models import ActorKind, AuditEntry
from townsquare.core.audit.service import Actor
from townsquare.core.config.service import update_guild_config
from townsquare.features.xp.domain.config import XPSection
from townsquare.features.xp.domain.wire import MAX_AMOUNT

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis
    from quart.testing import QuartClient

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings

GUILD = 4_444_000_000_000_000_001
MAYOR, ALDER, ADA = 5_000_000_000_000_001, 5_000_000_000_000_002, 5_000_000_000_000_003
ACTOR = {"actor_id": MAYOR, "actor_name": "mayor"}


async def test_leaderboard_pages_and_out_of_range(
    client: QuartClient, settings: Settings, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    await Totals(redis, keyspace, GUILD).put({ADA: 300, ALDER: 1500, MAYOR: 300})
    response = await client.get(
        f"/internal/v1/guilds/{GUILD}/leaderboard", headers=service_bearer(settings)
    )
    assert response.status_code == 200
    body = await response.get_json()
    assert (body["page"], body["pages"], body["ranked"]) == (1, 1, 3)
    assert [(e["rank"], e["user_id"], e["xp"]) for e in body["entries"]] == [
        (1, ALDER, 1500),
        (2, MAYOR, 300),
        (3, ADA, 300),
    ]
    far = await client.get(
        f"/internal/v1/guilds/{GUILD}/leaderboard",
        query_string={"page": "2"},
        headers=service_bearer(settings),
    )
    assert far.status_code == 404
    assert (await far.get_json())["pages"] == 1
    bad = await client.get(
        f"/internal/v1/guilds/{GUILD}/leaderboard",
        query_string={"page": "zero"},
        headers=service_bearer(settings),
    )
    assert bad.status_code == 400
    assert "page" in (await bad.get_json())["error"]["fields"]


async def test_member_rank_carries_what_the_card_needs(
    client: QuartClient, settings: Settings, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    await Totals(redis, keyspace, GUILD).put({ADA: 300, ALDER: 1500})
    response = await client.get(
        f"/internal/v1/guilds/{GUILD}/members/{ADA}/rank", headers=service_bearer(settings)
    )
    assert await response.get_json() == {
        "user_id": ADA,
        "xp": 300,
        "level": 2,
        "rank": 2,
        "ranked": 2,
        "level_start_xp": 255,
        "next_level_xp": 475,
        "background": None,  # the free tier draws the standard card
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": -1, **ACTOR}, "amount"),
        ({"amount": MAX_AMOUNT + 1, **ACTOR}, "amount"),
        ({"amount": "ten", **ACTOR}, "amount"),
        ({"amount": 5, "actor_name": "mayor"}, "actor_id"),
        ({"amount": 5, "actor_id": MAYOR, "actor_name": ""}, "actor_name"),
        ({"amount": 5, "extra": 1, **ACTOR}, "extra"),
    ],
)
async def test_bad_bodies_are_400_with_field_errors(
    client: QuartClient, settings: Settings, body: dict[str, object], field: str
) -> None:
    response = await client.post(
        f"/internal/v1/guilds/{GUILD}/members/{ADA}/xp/add",
        json=body,
        headers=service_bearer(settings),
    )
    assert response.status_code == 400
    assert field in (await response.get_json())["error"]["fields"]


async def test_xp_changes_write_redis_and_the_audit_log(
    client: QuartClient, settings: Settings, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    base = f"/internal/v1/guilds/{GUILD}/members/{ALDER}/xp"
    answers = []
    for operation, amount in [("set", 1150), ("add", 50), ("remove", 100)]:
        response = await client.post(
            f"{base}/{operation}",
            json={"amount": amount, **ACTOR},
            headers=service_bearer(settings),
        )
        assert response.status_code == 200
        answers.append(await response.get_json())
    assert [(a["xp"], a["level"]) for a in answers] == [(1150, 5), (1200, 5), (1100, 4)]
    reset = await client.post(f"{base}/reset", json=ACTOR, headers=service_bearer(settings))
    assert reset.status_code == 200
    assert await redis.hget(keyspace.key("xp", GUILD), str(ALDER)) == b"0"
    entries = await AuditEntry.filter(guild_id=GUILD).order_by("id")
    assert [(e.action, e.actor_id, e.actor_name, e.before, e.after) for e in entries] == [
        ("xp.set", MAYOR, "mayor", {"xp": 0}, {"xp": 1150}),
        ("xp.add", MAYOR, "mayor", {"xp": 1150}, {"xp": 1200}),
        ("xp.remove", MAYOR, "mayor", {"xp": 1200}, {"xp": 1100}),
        ("xp.reset_member", MAYOR, "mayor", {"xp": 1100}, {"xp": 0}),
    ]


async def test_reset_guild_counts_and_audits(
    client: QuartClient, settings: Settings, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    await Totals(redis, keyspace, GUILD).put({ADA: 10, ALDER: 20})
    response = await client.post(
        f"/internal/v1/guilds/{GUILD}/xp/reset", json=ACTOR, headers=service_bearer(settings)
    )
    assert await response.get_json() == {"members": 2}
    [entry] = await AuditEntry.filter(guild_id=GUILD, action="xp.reset_guild")
    assert entry.actor_id == MAYOR


async def test_xp_routes_refuse_when_xp_is_off_and_config_shows_it(
    client: QuartClient, settings: Settings
) -> None:
    defaults = settings.guild_defaults
    off = defaults.with_section(defaults.section(XPSection).model_copy(update={"enabled": False}))
    await update_guild_config(
        GUILD, off, expected_version=1, defaults=defaults, actor=Actor(ActorKind.USER, MAYOR, "m")
    )
    response = await client.post(
        f"/internal/v1/guilds/{GUILD}/members/{ADA}/xp/add",
        json={"amount": 5, **ACTOR},
        headers=service_bearer(settings),
    )
    assert response.status_code == 409
    assert await error_code(response) == "xp_disabled"
    shown = await client.get(
        f"/internal/v1/guilds/{GUILD}/config", headers=service_bearer(settings)
    )
    body = await shown.get_json()
    assert (body["guild_id"], body["version"], body["config"]["xp"]["enabled"]) == (
        GUILD,
        2,
        False,
    )
