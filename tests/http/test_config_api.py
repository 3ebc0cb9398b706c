"""`/api/v1/guilds/<id>/config`: authorization, CSRF, validation, the change itself."""

from __future__ import annotations

import datetime
import json
import re
import typing

import pytest

from tests.support.web import error_code, guild_config, log_in
from townsquare.core.audit.models import AuditEntry
from townsquare.core.config.models import GuildConfigRecord
from townsquare.core.config.schemas import CURRENT_SCHEMA_VERSION
from townsquare.core.guilds.models import Guild
from townsquare.core.guilds.service import ensure_guild

if typing.TYPE_CHECKING:
    import aiohttp
    import redis.asyncio as aioredis
    from quart import Quart
    from quart.testing import QuartClient

    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox

OTHER_GUILD = 987_654_321_987_654_321


async def test_change_writes_the_row_the_audit_entry_and_the_cache(
    client: QuartClient,
    admin: str,
    bot_in_demo: int,
    sandbox: Sandbox,
    redis: aioredis.Redis,
    keyspace: Keyspace,
) -> None:
    current = await guild_config(client, bot_in_demo)
    assert current["version"] == 1
    config = current["config"]
    config["xp"]["cooldown_seconds"] = 5
    response = await client.put(
        f"/api/v1/guilds/{bot_in_demo}/config",
        json={"expected_version": 1, "config": config},
        headers={"X-CSRF-Token": admin},
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
    body = await response.get_json()
    assert body["version"] == 2
    assert body["config"]["xp"]["cooldown_seconds"] == 5

    row = await GuildConfigRecord.get(guild_id=bot_in_demo)
    assert (row.version, row.document["xp"]["cooldown_seconds"]) == (2, 5)
    entry = await AuditEntry.get(guild_id=bot_in_demo, action="config.update")
    sheriff = next(u.id for u in sandbox.world.users.values() if u.username == "sheriff")
    assert entry.actor_id == sheriff
    assert entry.before is not None
    assert entry.after is not None
    assert entry.before["xp"]["cooldown_seconds"] == 60
    assert entry.after["xp"]["cooldown_seconds"] == 5
    cached = json.loads(await redis.get(keyspace.key("guild_config", bot_in_demo)))
    assert cached["version"] == 2
    assert cached["config"]["xp"]["cooldown_seconds"] == 5
    assert 0 < await redis.ttl(keyspace.key("guild_config", bot_in_demo)) <= 3600


async def test_a_change_based_on_an_older_version_is_refused(
    client: QuartClient, admin: str, bot_in_demo: int
) -> None:
    config = (await guild_config(client, bot_in_demo))["config"]
    url = f"/api/v1/guilds/{bot_in_demo}/config"
    headers = {"X-CSRF-Token": admin}
    config["xp"]["cooldown_seconds"] = 10
    first = await client.put(url, json={"expected_version": 1, "config": config}, headers=headers)
    assert first.status_code == 200
    config["xp"]["cooldown_seconds"] = 20
    stale = await client.put(url, json={"expected_version": 1, "config": config}, headers=headers)
    assert stale.status_code == 409
    error = (await stale.get_json())["error"]
    assert error["code"] == "version_conflict"
    assert "version 1" in error["message"]
    assert "version 2" in error["message"]
    assert (await guild_config(client, bot_in_demo))["config"]["xp"]["cooldown_seconds"] == 10
    row = await GuildConfigRecord.get(guild_id=bot_in_demo)
    assert row.version == 2


BAD_BODIES: typing.Final = {
    "not-an-object": [1, 2, 3],
    "missing-config": {"expected_version": 1},
    "version-zero": {"expected_version": 0, "config": "<current>"},
    "unknown-key": {"expected_version": 1, "config": "<current>", "extra": True},
    "min-above-max": {"expected_version": 1, "config": {"xp": {"per_message_min": 50}}},
    "wrong-type": {"expected_version": 1, "config": {"xp": {"cooldown_seconds": "soon"}}},
    "negative": {"expected_version": 1, "config": {"xp": {"max_level": -1}}},
    "bad-snowflake": {"expected_version": 1, "config": {"alerts": {"channel_id": 0}}},
    "null-body": None,
    # A change written against an older schema would drop what the newer one added.
    "older-schema": {"expected_version": 1, "config": {"schema_version": 1}},
    "newer-schema": {
        "expected_version": 1,
        "config": {"schema_version": CURRENT_SCHEMA_VERSION + 1},
    },
}


def _merge(base: dict[str, typing.Any], change: dict[str, typing.Any]) -> dict[str, typing.Any]:
    merged = dict(base)
    for key, value in change.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) else value
    return merged


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
async def test_bad_bodies_give_400_with_field_errors(
    client: QuartClient, admin: str, bot_in_demo: int, case: str
) -> None:
    current = (await guild_config(client, bot_in_demo))["config"]
    body: typing.Any = BAD_BODIES[case]
    if isinstance(body, dict) and "config" in body:
        config = body["config"]
        body = body | {"config": current if config == "<current>" else _merge(current, config)}
    response = await client.put(
        f"/api/v1/guilds/{bot_in_demo}/config",
        data=json.dumps(body),
        headers={"X-CSRF-Token": admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, await response.get_data(as_text=True)
    error = (await response.get_json())["error"]
    assert error["code"] == "invalid_body"
    assert error["fields"]
    assert all(isinstance(messages, list) and messages for messages in error["fields"].values())


async def test_field_errors_name_the_field(
    client: QuartClient, admin: str, bot_in_demo: int
) -> None:
    current = (await guild_config(client, bot_in_demo))["config"]
    body = {"expected_version": 1, "config": _merge(current, {"xp": {"max_level": "x"}})}
    response = await client.put(
        f"/api/v1/guilds/{bot_in_demo}/config", json=body, headers={"X-CSRF-Token": admin}
    )
    assert response.status_code == 400
    assert "config.xp.max_level" in (await response.get_json())["error"]["fields"]


@pytest.mark.parametrize(
    ("data", "content_type"),
    [("{not json", "application/json"), ("a=b", "application/x-www-form-urlencoded"), ("", "")],
    ids=["malformed-json", "form-body", "empty"],
)
async def test_unparseable_bodies_are_client_errors_not_500(
    client: QuartClient, admin: str, bot_in_demo: int, data: str, content_type: str
) -> None:
    headers = {"X-CSRF-Token": admin} | ({"Content-Type": content_type} if content_type else {})
    response = await client.put(f"/api/v1/guilds/{bot_in_demo}/config", data=data, headers=headers)
    assert response.status_code in {400, 415}, response.status_code
    assert "error" in await response.get_json()


async def test_oversized_body_gives_413(client: QuartClient, admin: str, bot_in_demo: int) -> None:
    big = json.dumps({"expected_version": 1, "padding": "x" * 2_000_000})
    response = await client.put(
        f"/api/v1/guilds/{bot_in_demo}/config",
        data=big,
        headers={"X-CSRF-Token": admin, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert await error_code(response) == "request_entity_too_large"


async def test_missing_or_wrong_csrf_token_gives_403(
    client: QuartClient, admin: str, bot_in_demo: int
) -> None:
    current = await guild_config(client, bot_in_demo)
    body = {"expected_version": 1, "config": current["config"]}
    url = f"/api/v1/guilds/{bot_in_demo}/config"
    for headers in ({}, {"X-CSRF-Token": "0" * 64}):
        response = await client.put(url, json=body, headers=headers)
        assert response.status_code == 403
        assert await error_code(response) == "csrf_failed"
    assert (await GuildConfigRecord.get(guild_id=bot_in_demo)).version == 1


def _guild_routes(app: Quart) -> list[tuple[str, str]]:
    """(method, rule) of every route that takes a guild id."""
    routes = []
    for rule in app.url_map.iter_rules():
        # `/internal/v1` takes the shards' service token, not a session (401 without it; see
        # test_internal_api.py): it acts for any guild the bot is in.
        # Pages members open from Discord (`/knowledge/...`, a cited document) are not
        # management routes: only `/api/` and `/dashboard/` are.
        if "guild_id" not in rule.arguments or not rule.rule.startswith(("/api/", "/dashboard/")):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((method, rule.rule))
    return routes


def _urls(rule: str, guild_id: int) -> list[str]:
    """The rule's URLs for `guild_id`: one per page of an `<any(...):page>` part."""
    url = rule.replace("<id:guild_id>", str(guild_id))
    url = re.sub(r"<(?:id|int):\w+>", "1", url)  # a reward, a case ...
    pages = re.search(r"<any\(([^)]*)\):page>", url)
    if pages is None:
        return [url]
    return [url.replace(pages.group(0), page.strip()) for page in pages.group(1).split(",")]


async def test_every_guild_route_refuses_another_guild(
    app: Quart, client: QuartClient, admin: str, bot_in_demo: int
) -> None:
    """The authorization matrix: a guild the user cannot manage, and one the bot has left."""
    await ensure_guild(OTHER_GUILD, name="Not yours")
    routes = _guild_routes(app)
    assert len(routes) >= 4, routes  # the API and the dashboard pages
    for method, url in [(m, url) for m, rule in routes for url in _urls(rule, OTHER_GUILD)]:
        response = await client.open(
            url,
            method=method,
            json={"expected_version": 1},
            headers={"X-CSRF-Token": admin, "Accept": "application/json"},
        )
        assert response.status_code == 403, (method, url, response.status_code)
    assert not await GuildConfigRecord.filter(guild_id=OTHER_GUILD).exists()

    # The user is admin of the demo guild, but once the bot has left it, it is off limits
    # (after the short Discord re-check cache).
    await Guild.filter(id=bot_in_demo).update(left_at=datetime.datetime.now(datetime.UTC))
    await _forget_guild_cache(app)
    for method, url in [(m, url) for m, rule in routes for url in _urls(rule, bot_in_demo)]:
        response = await client.open(
            url, method=method, json={"expected_version": 1}, headers={"X-CSRF-Token": admin}
        )
        assert response.status_code == 403, (method, url)


async def test_guild_routes_need_a_session(
    app: Quart, client: QuartClient, bot_in_demo: int
) -> None:
    for method, rule in _guild_routes(app):
        if not rule.startswith("/api/"):
            continue
        for url in _urls(rule, bot_in_demo):
            response = await client.open(url, method=method, json={})
            assert response.status_code == 401, (method, url)


async def test_a_plain_member_manages_nothing(
    client: QuartClient, browser: aiohttp.ClientSession, sandbox: Sandbox, bot_in_demo: int
) -> None:
    await log_in(client, browser, sandbox, "alder")
    assert (await (await client.get("/api/v1/guilds")).get_json()) == {"guilds": []}
    response = await client.get(f"/api/v1/guilds/{bot_in_demo}/config")
    assert response.status_code == 403


async def test_owner_and_admin_see_the_demo_guild(
    client: QuartClient, browser: aiohttp.ClientSession, sandbox: Sandbox, bot_in_demo: int
) -> None:
    for username in ("mayor", "sheriff"):
        await log_in(client, browser, sandbox, username)
        guilds = (await (await client.get("/api/v1/guilds")).get_json())["guilds"]
        assert [(g["id"], g["name"]) for g in guilds] == [(str(bot_in_demo), "Town Square Demo")]


async def _forget_guild_cache(app: Quart) -> None:
    from townsquare.http.state import HTTPState

    app_state: HTTPState = app.extensions["townsquare"]
    redis = app_state.require_redis()
    async for key in redis.scan_iter(match=app_state.keyspace.pattern("session_guilds")):
        await redis.delete(key)


async def test_level_rewards_api(
    client: QuartClient, admin: str, bot_in_demo: int, sandbox: Sandbox
) -> None:
    url = f"/api/v1/guilds/{bot_in_demo}/level-rewards"
    headers = {"X-CSRF-Token": admin}
    roles = {r.name: r.id for r in sandbox.world.guilds[bot_in_demo].roles.values()}
    role = roles["Level 10 · Familiar Face"]
    created = await client.post(url, json={"level": 10, "role_id": role}, headers=headers)
    assert created.status_code == 201, await created.get_data(as_text=True)
    reward = await created.get_json()
    assert (reward["level"], reward["role_id"]) == (10, str(role))
    listed = await (await client.get(url)).get_json()
    assert listed == {"rewards": [reward]}
    too_high = await client.post(
        url, json={"level": 1052, "role_id": roles["Level 5 · Newcomer"]}, headers=headers
    )
    assert too_high.status_code == 400
    assert "level" in (await too_high.get_json())["error"]["fields"]
    bad = await client.post(url, json={"level": "ten", "role_id": -1}, headers=headers)
    assert bad.status_code == 400
    assert set((await bad.get_json())["error"]["fields"]) == {"level", "role_id"}
    gone = await client.delete(f"{url}/{reward['id']}", headers=headers)
    assert gone.status_code == 204
    missing = await client.delete(f"{url}/{reward['id']}", headers=headers)
    assert missing.status_code == 404


def _leaves(node: typing.Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(node, dict) and node:
        return [leaf for key, value in node.items() for leaf in _leaves(value, (*path, key))]
    if isinstance(node, list) and node:
        return [path, *(leaf for i, v in enumerate(node) for leaf in _leaves(v, (*path, i)))]
    return [path]


def _replaced(document: typing.Any, path: tuple[str | int, ...], value: typing.Any) -> typing.Any:
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    node = copy
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return copy


WRONG_VALUES: typing.Final = [None, "x", -1, [], {}, 2**70, 1.5, "", {"a": 1}]


async def test_no_wrong_value_anywhere_in_the_document_gives_a_500(
    client: QuartClient, admin: str, bot_in_demo: int
) -> None:
    """Every leaf of the config, replaced by each wrong-typed value: 400 (or a valid change)."""
    body = {"expected_version": 1, "config": (await guild_config(client, bot_in_demo))["config"]}
    url = f"/api/v1/guilds/{bot_in_demo}/config"
    statuses: dict[int, int] = {}
    for path in _leaves(body):
        for value in WRONG_VALUES:
            response = await client.put(
                url, json=_replaced(body, path, value), headers={"X-CSRF-Token": admin}
            )
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code in {200, 400, 409}, (path, value, response.status_code)
            if response.status_code == 400:
                assert (await response.get_json())["error"]["fields"], (path, value)
    assert statuses[400] > 300, statuses
