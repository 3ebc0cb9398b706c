"""Fixtures for the HTTP service: a running sandbox (its OAuth2 is the login), settings that
point at it, and the Quart app against the test run's PostgreSQL and a fresh Redis namespace.

Logins follow every redirect by hand: `/auth/login` -> the sandbox's consent page (posted with
aiohttp, as a browser would) -> `/auth/callback` on the app's test client.
"""

from __future__ import annotations

import io
import logging
import typing

import aiohttp
import pytest
import structlog
import yarl

from townsquare.core.discord import DiscordTarget, write_sandbox_info
from townsquare.core.guilds.service import ensure_guild
from townsquare.core.logs import configure_logging
from townsquare.core.settings import load_settings
from townsquare.http import create_app
from townsquare.sandbox import Sandbox

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from quart import Quart
    from quart.testing import QuartClient

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings

SIGNING_KEY = "test-signing-key-that-is-long-enough-0123456789"


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    server = Sandbox()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def make_settings(var_dir: Path, keyspace: Keyspace, **env: str) -> Settings:
    environ = {
        "TOWNSQUARE__PATHS__VAR_DIR": str(var_dir),
        "TOWNSQUARE__REDIS__NAMESPACE": keyspace.namespace,
        "TOWNSQUARE__HTTP__JWT_SIGNING_KEY": SIGNING_KEY,
    } | env
    return load_settings(environ=environ, env_file=None)


@pytest.fixture
def settings(tmp_path: Path, keyspace: Keyspace, sandbox: Sandbox) -> Settings:
    write_sandbox_info(tmp_path / "sandbox.json", sandbox.info.as_json())
    return make_settings(tmp_path, keyspace)


@pytest.fixture
def discord_target(sandbox: Sandbox) -> DiscordTarget:
    from pydantic import SecretStr

    info = sandbox.info
    return DiscordTarget(
        rest_url=info.rest_url,
        token=SecretStr(info.bot_token),
        application_id=info.application_id,
        is_sandbox=True,
    )


@pytest.fixture
def unstarted_app(
    settings: Settings,
    redis_url: str,
    database_url: str,
    keyspace: Keyspace,
    discord_target: DiscordTarget,
    orm: None,
) -> Quart:
    """The service's app, not yet serving: a test may add routes before it starts."""
    return create_app(settings, redis_url, database_url, keyspace, discord=discord_target)


@pytest.fixture
async def app(unstarted_app: Quart) -> AsyncIterator[Quart]:
    async with unstarted_app.test_app():
        yield unstarted_app


@pytest.fixture
def client(app: Quart) -> QuartClient:
    return app.test_client()


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    """Stands in for the user's browser on the sandbox's consent page."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def demo_guild_id(sandbox: Sandbox) -> int:
    return next(iter(sandbox.world.guilds))


@pytest.fixture
async def bot_in_demo(demo_guild_id: int, orm: None) -> int:
    """The bot is in the demo guild: it has a guild row without `left_at`."""
    await ensure_guild(demo_guild_id, name="Town Square Demo")
    return demo_guild_id


def user_named(sandbox: Sandbox, username: str) -> int:
    return next(u.id for u in sandbox.world.users.values() if u.username == username)


async def start_login(client: QuartClient, next_path: str | None = None) -> yarl.URL:
    """GET /auth/login; the Discord authorize URL it redirects to."""
    query = {"next": next_path} if next_path else None
    response = await client.get("/auth/login", query_string=query)
    assert response.status_code == 302, await response.get_data(as_text=True)
    return yarl.URL(response.headers["Location"])


async def consent(browser: aiohttp.ClientSession, authorize: yarl.URL, user_id: int) -> yarl.URL:
    """Pick `user_id` on the sandbox's consent page; the callback URL Discord sends back."""
    async with browser.get(authorize) as page:
        assert page.status == 200, await page.text()
        assert f'value="{user_id}"' in await page.text()
    form = dict(authorize.query) | {"user_id": str(user_id)}
    async with browser.post(
        authorize.with_query(None), data=form, allow_redirects=False
    ) as response:
        assert response.status == 302, await response.text()
        return yarl.URL(response.headers["Location"])


async def log_in(
    client: QuartClient,
    browser: aiohttp.ClientSession,
    sandbox: Sandbox,
    username: str,
    next_path: str | None = None,
) -> str:
    """The whole login as `username`; returns where the app sends the user afterwards."""
    authorize = await start_login(client, next_path)
    callback = await consent(browser, authorize, user_named(sandbox, username))
    response = await client.get(callback.path, query_string=dict(callback.query))
    assert response.status_code == 302, await response.get_data(as_text=True)
    return response.headers["Location"]


def cookie(client: QuartClient, name: str) -> str | None:
    assert client.cookie_jar is not None
    return next((c.value for c in client.cookie_jar if c.name == name), None)


def set_cookie(client: QuartClient, name: str, value: str, path: str = "/") -> None:
    client.set_cookie("localhost", name, value, path=path)


async def csrf_token(client: QuartClient) -> str:
    response = await client.get("/api/v1/me")
    assert response.status_code == 200, await response.get_data(as_text=True)
    return str((await response.get_json())["csrf_token"])


class _Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Everything the service logs at debug and above, ours and libraries', as JSON lines.

    Our lines do not pass through stdlib logging (townsquare.core.logs), so `caplog` does not
    see them; this does. The previous configuration is restored afterwards.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = _Pipe()
    configure_logging(level="debug", fmt="json", stream=stream)
    try:
        yield stream
    finally:
        structlog.reset_defaults()
        root.handlers[:], root.level = handlers, level
