"""The bot as `run_shards` runs it, answering slash commands through the real HTTP service (a
pytest plugin: fixtures `internal_url`, `bot_running` and the demo guild's XP `totals`).

`ShardCluster` runs the real hikari client with the hikari-arc commands attached, its command
services pointed at the HTTP service (`create_app`, served by hypercorn on a free loopback
port in the test). Used with the slash-command driver (`tests.support.discord`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import typing

import pytest

from tests.support.sandbox import WAIT, target_of
from tests.support.services import serving
from tests.support.waiting import wait_until
from tests.support.world import demo_guild
from tests.support.xp import Totals
from townsquare.core.settings import load_settings
from townsquare.http import create_app
from townsquare.shards.api_client import InternalAPIClient
from townsquare.shards.cluster import ShardCluster, ShardSet

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox

__all__ = [
    "COMMANDS",
    "SERVICE_TOKEN",
    "SETTINGS",
    "BotRunning",
    "api_client",
    "commands_registered",
    "mentioned_ids",
]

SETTINGS: typing.Final = load_settings(environ={}, env_file=None)
COMMANDS: typing.Final = frozenset({"rank", "leaderboard", "xp", "config"})
"""The guild commands the bot registers; a started bot has registered them all."""
SERVICE_TOKEN: typing.Final = "e2e-service-token-0123456789abcdef"

type BotRunning = Callable[..., contextlib.AbstractAsyncContextManager[ShardCluster]]


@pytest.fixture
async def internal_url(
    tmp_path: Path, redis_url: str, database_url: str, keyspace: Keyspace, orm: None
) -> AsyncIterator[str]:
    """The HTTP service, served by hypercorn on a free loopback port for the test."""
    settings = load_settings(
        environ={
            "TOWNSQUARE__PATHS__VAR_DIR": str(tmp_path),
            "TOWNSQUARE__REDIS__NAMESPACE": keyspace.namespace,
            "TOWNSQUARE__HTTP__SERVICE_TOKEN": SERVICE_TOKEN,
        },
        env_file=None,
    )
    # Served from this fixture's context, so the requests see the `orm` fixture's connections.
    app = create_app(settings, redis_url, database_url, keyspace, discord=None)
    async with serving(app) as url:
        yield url


def api_client(url: str) -> InternalAPIClient:
    """The shards' client of the HTTP service at `url`, with the test's service token."""
    return InternalAPIClient(url, SERVICE_TOKEN)


async def commands_registered(sandbox: Sandbox) -> None:
    """Until the bot has registered its guild commands in the sandbox."""
    guild = demo_guild(sandbox)

    def registered() -> bool:
        names = {name for _, name in sandbox.world.commands.get(guild.id, {})}
        return names >= COMMANDS

    await wait_until(registered, within=WAIT, what="the bot's guild commands")


@pytest.fixture
def bot_running(
    sandbox: Sandbox, redis_url: str, keyspace: Keyspace, internal_url: str
) -> BotRunning:
    """`bot_running(url=internal_url, **services)`: `ShardCluster` (what `run_shards` runs)
    asking the HTTP service at `url`, with some command services replaced, for a block."""

    @contextlib.asynccontextmanager
    async def running(url: str = internal_url, **services: float) -> AsyncIterator[ShardCluster]:
        shards = ShardCluster(
            SETTINGS, redis_url, keyspace, ShardSet(target_of(sandbox.info), (0,), 1)
        )
        assert shards.command_services is not None
        shards.command_services = dataclasses.replace(
            shards.command_services, api=api_client(url), **services
        )
        await shards.start()
        try:
            await commands_registered(sandbox)
            yield shards
        finally:
            await shards.close()

    return running


@pytest.fixture
def totals(sandbox: Sandbox, redis: aioredis.Redis, keyspace: Keyspace) -> Totals:
    """The demo guild's XP totals in the test's Redis namespace."""
    return Totals(redis, keyspace, demo_guild(sandbox).id)


def mentioned_ids(text: str) -> list[int]:
    """The user ids mentioned in `text`, in order."""
    return [int(found) for found in re.findall(r"<@(\d+)>", text)]
