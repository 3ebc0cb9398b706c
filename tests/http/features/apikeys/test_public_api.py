"""`/public/v1` with API keys: the auth matrix, revocation, rate limits, paging, bad queries."""

from __future__ import annotations

import io
import json
import typing

import pytest
from PIL import Image

from tests.support.web import error_code
from townsquare.core.audit.service import Actor
from townsquare.core.guilds.service import ensure_guild
from townsquare.features.apikeys.domain.gate import RateLimit
from townsquare.features.apikeys.domain.service import create_key, revoke_key
from townsquare.features.apikeys.web.gate import RATE_LIMIT_CONFIG

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis
    from quart import Quart
    from quart.testing import QuartClient

    from townsquare.core.keyspace import Keyspace

OTHER_GUILD = 987_654_321_987_654_323
MEMBER = 1001


@pytest.fixture
async def token(bot_in_demo: int) -> str:
    return (await create_key(bot_in_demo, "tests", Actor.system())).token


@pytest.fixture
async def other_token() -> str:
    await ensure_guild(OTHER_GUILD, name="Another server")
    return (await create_key(OTHER_GUILD, "theirs", Actor.system())).token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def routes(guild_id: int) -> list[str]:
    base = f"/public/v1/guilds/{guild_id}"
    return [
        f"{base}/leaderboard",
        f"{base}/members/{MEMBER}/rank",
        f"{base}/members/{MEMBER}/rank-card.png",
    ]


async def seed(redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, xp: dict[int, int]):
    await redis.hset(
        keyspace.key("xp", guild_id), mapping={str(user): str(v) for user, v in xp.items()}
    )


async def test_the_auth_matrix(
    client: QuartClient, token: str, other_token: str, bot_in_demo: int
) -> None:
    wrong_secret = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    unknown = "tsk_zzzzzzzzzz_" + "A" * 43
    for url in routes(bot_in_demo):
        ok = await client.get(url, headers=bearer(token))
        assert ok.status_code == 200, (url, await ok.get_data(as_text=True))
        for headers in (
            {},
            {"Authorization": token},
            {"Authorization": "Basic abc"},
            bearer("not-a-key"),
            bearer(wrong_secret),
            bearer(unknown),
        ):
            response = await client.get(url, headers=headers)
            assert response.status_code == 401, (url, headers)
            assert response.headers["WWW-Authenticate"] == 'Bearer realm="townsquare"'
            assert await error_code(response) == "api_key_invalid"
        refused = await client.get(url, headers=bearer(other_token))
        assert refused.status_code == 403, url
        assert await error_code(refused) == "guild_forbidden"
    # Ids no guild can have (outside 1..2^63-1) match no route: 404, never a 500.
    for guild in (0, 2**63, 2**64, 10**30):
        response = await client.get(f"/public/v1/guilds/{guild}/leaderboard", headers=bearer(token))
        assert response.status_code == 404, guild
        assert await error_code(response) == "not_found"
    # The other guild's key works on its own guild.
    for url in routes(OTHER_GUILD):
        assert (await client.get(url, headers=bearer(other_token))).status_code == 200, url
        assert (await client.get(url, headers=bearer(token))).status_code == 403, url


async def test_a_revoked_key_is_refused_at_once(
    client: QuartClient, token: str, bot_in_demo: int, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    url = routes(bot_in_demo)[0]
    assert (await client.get(url, headers=bearer(token))).status_code == 200
    from townsquare.features.apikeys.domain.models import ApiKey

    row = await ApiKey.get(guild_id=bot_in_demo)
    assert await redis.exists(keyspace.key("api_key", row.prefix))  # the entry is cached
    await revoke_key(redis, keyspace, bot_in_demo, row.id, Actor.system())
    for url in routes(bot_in_demo):
        assert (await client.get(url, headers=bearer(token))).status_code == 401
    # Even with the Redis entry gone, PostgreSQL says revoked.
    await redis.delete(keyspace.key("api_key", row.prefix))
    assert (await client.get(url, headers=bearer(token))).status_code == 401


async def test_the_rate_limit_answers_429_with_retry_after(
    app: Quart, client: QuartClient, token: str, bot_in_demo: int
) -> None:
    app.config[RATE_LIMIT_CONFIG] = RateLimit(requests=3, window_seconds=30)
    second = (await create_key(bot_in_demo, "second", Actor.system())).token
    url = routes(bot_in_demo)[0]
    for _ in range(3):
        assert (await client.get(url, headers=bearer(token))).status_code == 200
    limited = await client.get(url, headers=bearer(token))
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 30
    assert await error_code(limited) == "rate_limited"
    # Counted per key: another key of the same guild is not limited...
    assert (await client.get(url, headers=bearer(second))).status_code == 200
    # ...and an invalid key is refused before it is counted against anyone.
    assert (await client.get(url, headers=bearer(token[:-1] + "x"))).status_code == 401


async def test_paging_is_stable_and_breaks_ties_by_user_id(
    client: QuartClient, token: str, bot_in_demo: int, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    xp = {user: 100 * (user % 7) for user in range(2000, 2025)}  # many ties; 0 XP is unranked
    await seed(redis, keyspace, bot_in_demo, xp)
    ranked = sorted(((u, v) for u, v in xp.items() if v > 0), key=lambda i: (-i[1], i[0]))
    seen: list[tuple[int, int]] = []
    for page in (1, 2, 3):
        response = await client.get(
            routes(bot_in_demo)[0],
            query_string={"page": page, "per_page": 8},
            headers=bearer(token),
        )
        assert response.status_code == 200
        body = await response.get_json()
        assert (body["page"], body["per_page"], body["pages"], body["ranked"]) == (
            page,
            8,
            3,
            len(ranked),
        )
        seen += [(int(e["user_id"]), e["xp"]) for e in body["entries"]]
        assert [e["rank"] for e in body["entries"]] == list(
            range((page - 1) * 8 + 1, (page - 1) * 8 + 1 + len(body["entries"]))
        )
    assert seen == ranked
    rank = await client.get(
        f"/public/v1/guilds/{bot_in_demo}/members/2013/rank", headers=bearer(token)
    )
    body = await rank.get_json()
    assert body["rank"] == ranked.index((2013, xp[2013])) + 1
    assert (body["xp"], body["ranked"]) == (xp[2013], len(ranked))
    assert xp[2002] == 0
    unranked = await client.get(
        f"/public/v1/guilds/{bot_in_demo}/members/2002/rank", headers=bearer(token)
    )
    assert (await unranked.get_json())["rank"] is None


async def test_the_leaderboard_is_cached_briefly(
    client: QuartClient, token: str, bot_in_demo: int, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    await seed(redis, keyspace, bot_in_demo, {5: 50})
    url = routes(bot_in_demo)[0]
    first = await (await client.get(url, headers=bearer(token))).get_json()
    assert [e["xp"] for e in first["entries"]] == [50]
    key = keyspace.key("public_leaderboard", bot_in_demo, 1, 10)
    assert 0 < await redis.ttl(key) <= 10
    await seed(redis, keyspace, bot_in_demo, {5: 70})
    cached = await (await client.get(url, headers=bearer(token))).get_json()
    assert cached == first
    await redis.delete(key)
    fresh = await (await client.get(url, headers=bearer(token))).get_json()
    assert [e["xp"] for e in fresh["entries"]] == [70]


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ({"page": "0"}, {"page"}),
        ({"page": "abc"}, {"page"}),
        ({"per_page": "1000"}, {"per_page"}),
        ({"per_page": "0", "page": "-1"}, {"page", "per_page"}),
        ({"sort": "xp"}, {"sort"}),
    ],
)
async def test_bad_parameters_give_400_with_field_errors(
    client: QuartClient, token: str, bot_in_demo: int, query: dict[str, str], fields: set[str]
) -> None:
    response = await client.get(routes(bot_in_demo)[0], query_string=query, headers=bearer(token))
    assert response.status_code == 400, await response.get_data(as_text=True)
    assert set((await response.get_json())["error"]["fields"]) == fields


async def test_a_page_past_the_last_is_404(
    client: QuartClient, token: str, bot_in_demo: int
) -> None:
    """A valid query for a page that does not exist (the empty leaderboard has 1 page)."""
    response = await client.get(
        routes(bot_in_demo)[0], query_string={"page": "2"}, headers=bearer(token)
    )
    assert response.status_code == 404, await response.get_data(as_text=True)
    body = await response.get_json()
    assert body["error"]["code"] == "page_out_of_range"
    assert body["error"]["fields"] == {"page": ["must be at most 1"]}


async def test_the_rank_card_is_a_png(
    client: QuartClient, token: str, bot_in_demo: int, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    await seed(redis, keyspace, bot_in_demo, {MEMBER: 1234})
    response = await client.get(routes(bot_in_demo)[2], headers=bearer(token))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(await response.get_data())) as image:
        assert (image.format, image.size) == ("PNG", (934, 282))


async def test_the_openapi_document_describes_the_public_api(client: QuartClient) -> None:
    document = json.loads(await (await client.get("/openapi.json")).get_data(as_text=True))
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
    }
    paths = document["paths"]
    leaderboard = paths["/public/v1/guilds/{guild}/leaderboard"]["get"]
    assert leaderboard["security"] == [{"apiKey": []}]
    assert {p["name"] for p in leaderboard["parameters"]} >= {"page", "per_page"}
    assert {"200", "400", "401", "403", "429"} <= set(leaderboard["responses"])
    assert "/public/v1/guilds/{guild}/members/{user_id}/rank" in paths
    assert "/public/v1/guilds/{guild}/members/{user_id}/rank-card.png" in paths
