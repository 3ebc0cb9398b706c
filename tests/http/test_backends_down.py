"""Redis or PostgreSQL gone: every route answers 503 with `Retry-After`, never a 500.

The app reaches both servers through a proxy the test cuts (tests.support.tcp_proxy): the
shared servers stay up for everyone else, and the app sees what it sees when a server dies
(its open connections reset, new ones refused). The user logs in while everything is up.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
import typing
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import redis.exceptions
from tortoise import Tortoise

from tests.support.tcp_proxy import TCPProxy, proxied_url, tcp_proxy
from tests.support.web import csrf_token, log_in
from townsquare.core.commands_api import service_token
from townsquare.core.config.models import GuildConfigRecord
from townsquare.core.db import connect
from townsquare.core.embedded import start_or_attach_valkey
from townsquare.core.guilds.service import ensure_guild
from townsquare.http import create_app
from townsquare.http.errors import RETRY_AFTER_SECONDS

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    import aiohttp
    from quart import Quart
    from quart.testing import QuartClient

    from townsquare.core.discord import DiscordTarget
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.sandbox import Sandbox

UNKNOWN_API_KEY: typing.Final = "tsk_abcdefghij_" + "A" * 43

NEEDS_REDIS: typing.Final = {
    ("GET", "/"),
    ("GET", "/auth/login"),
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/guilds"),
    ("GET", "/api/v1/guilds/{g}/config"),
    ("PUT", "/api/v1/guilds/{g}/config"),
    ("POST", "/api/v1/guilds/{g}/level-rewards"),
    ("GET", "/dashboard/guilds/{g}/xp"),
    ("POST", "/dashboard/guilds/{g}/xp"),
    ("GET", "/public/v1/guilds/{g}/leaderboard"),
    ("GET", "/internal/v1/guilds/{g}/leaderboard"),
}
"""Routes that cannot answer without Redis (the session, the cache, the key gate)."""
NEEDS_POSTGRESQL: typing.Final = {
    ("GET", "/api/v1/guilds/{g}/config"),
    ("PUT", "/api/v1/guilds/{g}/config"),
    ("GET", "/api/v1/guilds/{g}/level-rewards"),
    ("POST", "/api/v1/guilds/{g}/level-rewards"),
    ("GET", "/dashboard/guilds/{g}/xp"),
    ("POST", "/dashboard/guilds/{g}/xp"),
    ("GET", "/public/v1/guilds/{g}/leaderboard"),
}
"""Routes that cannot answer without PostgreSQL (the guild row, config writes, API key rows).
The config reads are among them because the test drops the cached copy first."""


class Backends(typing.NamedTuple):
    redis: TCPProxy
    postgresql: TCPProxy


@pytest.fixture
async def backends(redis_url: str, database_url: str) -> AsyncIterator[Backends]:
    async with tcp_proxy(redis_url) as redis_proxy, tcp_proxy(database_url) as pg_proxy:
        yield Backends(redis_proxy, pg_proxy)


@pytest.fixture
async def proxied_app(
    settings: Settings,
    redis_url: str,
    database_url: str,
    keyspace: Keyspace,
    discord_target: DiscordTarget,
    backends: Backends,
    redis: aioredis.Redis,
) -> AsyncIterator[Quart]:
    """The app, its ORM and its Redis client going through the proxies."""
    del redis  # asked for its cleanup: it deletes this test's keys afterwards
    app = create_app(
        settings,
        proxied_url(redis_url, backends.redis),
        proxied_url(database_url, backends.postgresql),
        keyspace,
        discord=discord_target,
    )
    async with connect(proxied_url(database_url, backends.postgresql)):
        try:
            async with app.test_app():
                yield app
        finally:
            await backends.redis.restore()
            await backends.postgresql.restore()
            await Tortoise.get_connection("default").execute_script(
                "TRUNCATE guilds, guild_configs, level_rewards, audit_entries, api_keys "
                "RESTART IDENTITY CASCADE"
            )


def _routes(app: Quart, guild_id: int) -> list[tuple[str, str, str]]:
    """(method, rule with `{g}` for the guild, URL) of every route of the app, logout last."""
    values = {
        "guild_id": str(guild_id),
        "guild": str(guild_id),
        "page": "xp",
        "filename": "dashboard.css",
    }
    routes = []
    for rule in app.url_map.iter_rules():
        template = re.sub(r"<(?:[a-z]+:)?(guild_id|guild)>", "{g}", rule.rule)
        template = re.sub(r"<(?:any\([^)]*\):)?page>", "xp", template)
        url = re.sub(r"<(?:[^:>]+:)?([a-z_]+)>", lambda m: values.get(m.group(1), "1"), rule.rule)
        url = re.sub(r"<any\([^)]*\):page>", "xp", url)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append((method, template, url))
    # Last: where it works (PostgreSQL down), it ends the session the other routes use.
    return sorted(routes, key=lambda route: route[1] == "/auth/logout")


async def _answers(
    app: Quart, client: QuartClient, csrf: str, guild_id: int, config: dict[str, typing.Any]
) -> dict[tuple[str, str], tuple[int, str | None, dict[str, typing.Any] | None]]:
    """Every route's status, `Retry-After` and JSON error, asked as a logged-in admin would,
    with a body each route would accept (`config`: the guild's current document)."""
    service = service_token(app.extensions["townsquare"].settings)
    bodies: dict[str, dict[str, typing.Any]] = {
        "/api/v1/guilds/{g}/config": {"expected_version": 1, "config": config},
        "/api/v1/guilds/{g}/level-rewards": {"level": 1, "role_id": "42"},
    }
    answers = {}
    for method, template, url in _routes(app, guild_id):
        headers = {"X-CSRF-Token": csrf, "Accept": "application/json"}
        if template.startswith("/internal/"):
            headers["Authorization"] = f"Bearer {service}"
        elif template.startswith("/public/"):
            headers["Authorization"] = f"Bearer {UNKNOWN_API_KEY}"
        kwargs: dict[str, typing.Any] = {}
        if method != "GET" and template.startswith(("/dashboard", "/auth")):
            kwargs["form"] = {"csrf_token": csrf, "expected_version": "1"}
        elif method != "GET":
            kwargs["json"] = bodies.get(
                template, {"amount": 1, "actor_id": "1", "actor_name": "admin"}
            )
        response = await client.open(url, method=method, headers=headers, **kwargs)
        error = None
        if response.mimetype == "application/json":
            error = (await response.get_json() or {}).get("error")
        answers[method, template] = (
            response.status_code,
            response.headers.get("Retry-After"),
            error,
        )
    return answers


async def _drop_cached_config(app: Quart, guild_id: int) -> None:
    app_state = app.extensions["townsquare"]
    await app_state.require_redis().delete(app_state.keyspace.key("guild_config", guild_id))


@pytest.mark.parametrize("down", ["redis", "postgresql"])
async def test_every_route_answers_503_with_retry_after_when_a_backend_is_down(
    proxied_app: Quart,
    backends: Backends,
    browser: aiohttp.ClientSession,
    sandbox: Sandbox,
    demo_guild_id: int,
    down: str,
) -> None:
    app = proxied_app
    client = app.test_client()
    await ensure_guild(demo_guild_id, name="Town Square Demo")
    await log_in(client, browser, sandbox, "sheriff")
    csrf = await csrf_token(client)
    config_url = f"/api/v1/guilds/{demo_guild_id}/config"
    current = await client.get(config_url)
    assert current.status_code == 200
    config = (await current.get_json())["config"]
    await _drop_cached_config(app, demo_guild_id)

    await getattr(backends, down).cut()
    # A dashboard page gets the error as a page.
    page = await client.get(
        f"/dashboard/guilds/{demo_guild_id}/xp", headers={"Accept": "text/html"}
    )
    assert page.status_code == 503
    assert page.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "unavailable" in await page.get_data(as_text=True)

    answers = await _answers(app, client, csrf, demo_guild_id, config)

    server_errors = {route: a for route, a in answers.items() if a[0] >= 500 and a[0] != 503}
    assert not server_errors, server_errors
    for route, (status, retry_after, error) in answers.items():
        if status == 503 and route != ("GET", "/readyz"):
            assert retry_after == str(RETRY_AFTER_SECONDS), route
            assert error is not None and error["code"] == "service_unavailable", (route, error)
            name = {"redis": "Redis", "postgresql": "PostgreSQL"}[down]
            assert error["message"].startswith(f"{name} is unavailable"), (route, error)
    expected = NEEDS_REDIS if down == "redis" else NEEDS_POSTGRESQL
    not_503 = {route: answers[route] for route in expected if answers[route][0] != 503}
    assert not not_503, not_503

    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert (await ready.get_json())["failing"] == [down]
    assert (await client.get("/healthz")).status_code == 200

    # Back up: the service answers again, and nothing was changed meanwhile.
    await getattr(backends, down).restore()
    assert (await client.get("/readyz")).status_code == 200
    await log_in(client, browser, sandbox, "sheriff")  # the walk ended with a logout
    response = await client.get(config_url)
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert (await response.get_json())["version"] == 1
    assert (await GuildConfigRecord.get(guild_id=demo_guild_id)).version == 1


async def _answers_busy(client: aioredis.Redis) -> bool:
    try:
        await client.ping()
    except redis.exceptions.ResponseError as error:
        return str(error).startswith("BUSY")
    return False


@pytest.fixture
def private_valkey() -> Iterator[str]:
    """A Valkey of this test's own: the test blocks it with a script, which the shared one
    must never be."""
    root = Path(tempfile.mkdtemp(prefix="townsquare-busy-"))
    server = start_or_attach_valkey(root / "valkey")
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


async def test_a_redis_blocked_by_a_long_script_is_a_503_too(
    settings: Settings,
    database_url: str,
    keyspace: Keyspace,
    discord_target: DiscordTarget,
    orm: None,
    private_valkey: str,
) -> None:
    """Issue 10 (1) saw every Redis client answered `BUSY` while a script ran for a minute;
    the HTTP service then answered 500."""
    probe = aioredis.Redis.from_url(private_valkey)
    blocker = aioredis.Redis.from_url(private_valkey)
    await probe.config_set("busy-reply-threshold", 10)  # ms before others get BUSY
    script = asyncio.create_task(blocker.eval("while true do end", 0))
    try:
        # Until the server says BUSY, about 10 ms into the script: each PING is a round trip
        # that answers at once (PONG), so this asks a few hundred times at most.
        while not await _answers_busy(probe):
            pass
        app = create_app(settings, private_valkey, database_url, keyspace, discord=discord_target)
        async with app.test_app():
            client = app.test_client()
            response = await client.get("/auth/login")
            assert response.status_code == 503, await response.get_data(as_text=True)
            assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
            error = (await response.get_json())["error"]
            assert error["code"] == "service_unavailable"
            assert error["message"].startswith("Redis is unavailable")
            ready = await client.get("/readyz")
            assert (await ready.get_json())["failing"] == ["redis"]
    finally:
        await probe.script_kill()
        with pytest.raises(redis.exceptions.ResponseError):
            await script
        await probe.aclose()
        await blocker.aclose()


async def test_the_openapi_description_lists_the_503_on_every_operation(
    client: QuartClient,
) -> None:
    description = await (await client.get("/openapi.json")).get_json()
    operations = [
        (method, path, operation)
        for path, methods in description["paths"].items()
        for method, operation in methods.items()
    ]
    assert operations
    for method, path, operation in operations:
        answer = operation["responses"].get("503")
        assert answer is not None, (method, path)
        assert "Retry-After" in answer["headers"], (method, path)
        schema = answer["content"]["application/json"]["schema"]
        assert schema["title"] == "ErrorBody", (method, path)
