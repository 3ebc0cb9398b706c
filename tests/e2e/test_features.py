"""A feature is one folder and one line: the echo test feature shows up in every runtime.

`tests/support/echo` has a slash command, a task, a route and a console pane. The fixture
enables it (`use_features`) and nothing in the runtimes is told about it; each test then runs
the runtime itself: the shards with the real hikari client against the sandbox, a worker, the
HTTP app, the console under Textual's Pilot.
"""

from __future__ import annotations

import asyncio
import json
import typing

import aiohttp
import pytest
from pydantic import SecretStr
from textual.widgets import Static, TabbedContent

from tests.support.echo import ECHO_TASK, PATH, SETTINGS_FILE
from townsquare.console import ConsoleApp
from townsquare.core.discord import DiscordTarget
from townsquare.core.events.wire import DATA_FIELD, encode_job
from townsquare.core.features import use_features
from townsquare.core.settings import load_settings
from townsquare.http import create_app
from townsquare.shards.cluster import ShardCluster, ShardSet
from townsquare.tasks.registry import load_tasks
from townsquare.tasks.worker import run_worker

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator
    from pathlib import Path

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox

pytestmark = pytest.mark.integration

WAIT: typing.Final = 15.0
STRING_OPTION: typing.Final = 3


@pytest.fixture
def echo_enabled() -> Iterator[None]:
    with use_features(PATH):
        yield


async def until(check: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    async with asyncio.timeout(WAIT):
        while True:
            result = check()
            if await result if not isinstance(result, bool) else result:
                return
            await asyncio.sleep(0.02)
    raise AssertionError(what)  # pragma: no cover - the timeout raises first


async def test_the_command_is_registered_and_answers_through_the_real_hikari_client(
    echo_enabled: None, sandbox: Sandbox, redis_url: str, keyspace: Keyspace
) -> None:
    settings = load_settings(SETTINGS_FILE, environ={}, env_file=None)
    info = sandbox.info
    target = DiscordTarget(
        rest_url=info.rest_url,
        token=SecretStr(info.bot_token),
        application_id=info.application_id,
        is_sandbox=True,
    )
    guild = next(iter(sandbox.world.guilds.values()))
    channel = next(c for c in guild.channels.values() if c.name == "bot-commands")
    user = sandbox.world.user_named("alder")
    assert user is not None
    shards = ShardCluster(settings, redis_url, keyspace, ShardSet(target, (0,), 1))
    await shards.start()
    try:
        await until(
            lambda: "echo" in {name for _, name in sandbox.world.commands.get(guild.id, {})},
            "the echo command registered with the sandbox",
        )
        body = {
            "channel_id": str(channel.id),
            "user_id": str(user.id),
            "name": "echo",
            "options": [{"name": "text", "type": STRING_OPTION, "value": "hello"}],
        }
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{info.control_url}/interactions", json=body) as response,
        ):
            assert response.status == 200, await response.text()
            interaction_id = int((await response.json())["id"])
        interaction = sandbox.world.interactions[interaction_id]
        await until(lambda: interaction.response_message_id is not None, "the bot's answer")
        assert interaction.response_message_id is not None
        assert sandbox.world.messages[interaction.response_message_id].content == "echo: hello"
    finally:
        await shards.close()


async def test_the_task_runs_on_a_worker(
    echo_enabled: None, redis: aioredis.Redis, redis_url: str, keyspace: Keyspace
) -> None:
    settings = load_settings(SETTINGS_FILE, environ={}, env_file=None)
    registry = load_tasks()
    assert registry.pipeline_of(ECHO_TASK) == "jobs"
    await redis.xadd(keyspace.key("stream", "jobs"), {DATA_FIELD: encode_job(ECHO_TASK, "hello")})
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(settings, redis_url, keyspace, ["jobs"], shutdown=stop, registry=registry)
    )
    try:
        key = keyspace.key("echo", "hello")
        await until(lambda: redis.exists(key), "the echo task's key")
        assert await redis.get(key) == b"hello"
    finally:
        stop.set()
        await asyncio.wait_for(worker, WAIT)


async def test_the_route_answers(
    echo_enabled: None, tmp_path: Path, redis_url: str, database_url: str, keyspace: Keyspace
) -> None:
    settings = load_settings(
        SETTINGS_FILE, environ={"TOWNSQUARE__PATHS__VAR_DIR": str(tmp_path)}, env_file=None
    )
    app = create_app(settings, redis_url, database_url, keyspace, discord=None)
    async with app.test_app():
        response = await app.test_client().get("/echo/hello")
        assert response.status_code == 200
        assert json.loads(await response.get_data()) == {"echo": "echo: hello"}


async def test_the_pane_mounts_in_the_console(
    echo_enabled: None,
    redis: aioredis.Redis,
    database_url: str,
    redis_url: str,
    keyspace: Keyspace,
    orm: None,
) -> None:
    await redis.set(keyspace.key("echo", "hello"), "hello")
    app = ConsoleApp(redis_url, database_url, keyspace, refresh_seconds=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        number = 4 + [pane.TAB_ID for pane in app.pane_types].index("echo")
        await pilot.press(str(number))
        assert app.query_one(TabbedContent).active == "echo"

        async def shown() -> bool:
            await pilot.pause()
            return "remembered 1" in str(app.query_one("#echo-count", Static).render())

        await until(shown, "the echo pane's reading")
