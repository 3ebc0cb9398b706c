"""Fixtures for the HTTP service: a running sandbox (its OAuth2 is the login), settings that
point at it, and the Quart app against the test run's PostgreSQL and a fresh Redis namespace.

The login helpers (`log_in`, `consent`, `csrf_token`, ...) are in `tests.support.web`.
"""

from __future__ import annotations

import io
import logging
import typing

import aiohttp
import pytest
import structlog

from tests.support.sandbox import target_of
from tests.support.web import csrf_token, log_in, make_settings
from tests.support.world import demo_guild
from townsquare.core.discord import DiscordTarget, write_sandbox_info
from townsquare.core.guilds.service import ensure_guild
from townsquare.core.logs import configure_logging
from townsquare.http import create_app

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from quart import Quart
    from quart.testing import QuartClient

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.sandbox import Sandbox


@pytest.fixture
def settings(tmp_path: Path, keyspace: Keyspace, sandbox: Sandbox) -> Settings:
    write_sandbox_info(tmp_path / "sandbox.json", sandbox.info.as_json())
    return make_settings(tmp_path, keyspace)


@pytest.fixture
def discord_target(sandbox: Sandbox) -> DiscordTarget:
    return target_of(sandbox.info)


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
    return demo_guild(sandbox).id


@pytest.fixture
async def bot_in_demo(demo_guild_id: int, orm: None) -> int:
    """The bot is in the demo guild: it has a guild row without `left_at`."""
    await ensure_guild(demo_guild_id, name="Town Square Demo")
    return demo_guild_id


@pytest.fixture
async def sheriff(
    client: QuartClient, browser: aiohttp.ClientSession, sandbox: Sandbox, bot_in_demo: int
) -> QuartClient:
    """The test client, logged in as sheriff (Manage Server in the demo guild, where the bot
    is)."""
    await log_in(client, browser, sandbox, "sheriff")
    return client


@pytest.fixture
async def admin(sheriff: QuartClient) -> str:
    """Logged in as the demo guild's admin (sheriff); returns the session's CSRF token."""
    return await csrf_token(sheriff)


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
