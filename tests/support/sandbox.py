"""Sandbox fixtures (a pytest plugin, loaded by tests/conftest.py): a running sandbox, the real
hikari client, raw gateway clients, and the control API.

Every test that asks for `sandbox` gets a fresh one (a new world) on a free loopback port;
starting one takes milliseconds. A module wanting other constructor arguments (a clock, a
scenario) overrides `sandbox_options`. Waits are bounded and event-driven:
`EventRecorder.wait_for` returns as soon as a matching event has arrived and fails after a
timeout.
"""

from __future__ import annotations

import asyncio
import json
import typing
import zlib

import aiohttp
import hikari
import pytest

from tests.support.world import channel_named, demo_guild, role_named, user_named
from townsquare.core.discord import DiscordTarget
from townsquare.sandbox import Sandbox, SandboxInfo

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from townsquare.sandbox.world.models import Guild

__all__ = [
    "BOT_INTENTS",
    "WAIT",
    "EventRecorder",
    "Live",
    "RawGateway",
    "control",
    "inject",
    "make_bot",
    "post_message",
    "target_of",
    "use_command",
]

WAIT: typing.Final[float] = 10.0
"""Upper bound of every wait; a passing test never comes close."""

BOT_INTENTS: typing.Final = (
    hikari.Intents.ALL_UNPRIVILEGED | hikari.Intents.GUILD_MEMBERS | hikari.Intents.MESSAGE_CONTENT
)


@pytest.fixture
def sandbox_options() -> dict[str, typing.Any]:
    """Keyword arguments for `Sandbox(...)`; override in a module for a clock or a scenario."""
    return {}


@pytest.fixture
async def sandbox(sandbox_options: dict[str, typing.Any]) -> AsyncIterator[Sandbox]:
    """A started sandbox with a fresh world, stopped after the test."""
    server = Sandbox(**sandbox_options)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def info(sandbox: Sandbox) -> SandboxInfo:
    return sandbox.info


class EventRecorder:
    """Records every hikari event and lets a test wait for the one it expects."""

    def __init__(self) -> None:
        self.events: list[hikari.Event] = []
        self._changed = asyncio.Condition()

    async def record(self, event: hikari.Event) -> None:
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def of[E: hikari.Event](self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    async def wait_for[E: hikari.Event](
        self, kind: type[E], predicate: Callable[[E], bool] = lambda _: True, count: int = 1
    ) -> list[E]:
        """The first `count` events of `kind` matching `predicate`, waiting for them if needed."""

        def matches() -> list[E]:
            return [e for e in self.of(kind) if predicate(e)]

        async with asyncio.timeout(WAIT), self._changed:
            await self._changed.wait_for(lambda: len(matches()) >= count)
        return matches()[:count]


def make_bot(info: SandboxInfo, *, token: str | None = None) -> hikari.GatewayBot:
    return hikari.GatewayBot(
        token or info.bot_token,
        rest_url=info.rest_url,
        intents=BOT_INTENTS,
        banner=None,
        logs=None,
        suppress_optimization_warning=True,
    )


@pytest.fixture
async def recorder() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
async def bot(info: SandboxInfo, recorder: EventRecorder) -> AsyncIterator[hikari.GatewayBot]:
    """A started `hikari.GatewayBot` connected to the sandbox, recording every event."""
    client = make_bot(info)
    client.subscribe(hikari.Event, recorder.record)
    await client.start(check_for_updates=False)
    try:
        yield client
    finally:
        await client.close()


class Live(typing.NamedTuple):
    """A started `hikari.GatewayBot` on the test's sandbox, the events it recorded, and a client
    for the control API: what a sandbox test asks for in one fixture, `live`."""

    bot: hikari.GatewayBot
    sandbox: Sandbox
    recorder: EventRecorder
    http: aiohttp.ClientSession

    @property
    def info(self) -> SandboxInfo:
        return self.sandbox.info

    @property
    def guild(self) -> Guild:
        """The demo guild."""
        return demo_guild(self.sandbox)

    def channel(self, name: str) -> int:
        return channel_named(self.guild, name)

    def role(self, name: str) -> int:
        return role_named(self.guild, name)

    def user(self, username: str) -> int:
        return user_named(self.sandbox, username)

    async def use(
        self, user: int, name: str, channel: int, **body: object
    ) -> dict[str, typing.Any]:
        """The member `user` uses `/name` in `channel` (`POST /interactions`); `body` adds
        `options` or `autocomplete`. Returns `{"id", "token"}`."""
        where = {"channel_id": str(channel), "user_id": str(user)}
        return await use_command(self.http, self.info, name=name, **where, **body)


@pytest.fixture
async def live(
    bot: hikari.GatewayBot,
    sandbox: Sandbox,
    recorder: EventRecorder,
    http: aiohttp.ClientSession,
) -> Live:
    return Live(bot, sandbox, recorder, http)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class RawGateway:
    """A bare gateway client, for protocol details hikari hides."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, *, zlib_stream: bool) -> None:
        self.ws = ws
        self._inflator = zlib.decompressobj() if zlib_stream else None

    async def receive(self) -> dict[str, typing.Any]:
        async with asyncio.timeout(WAIT):
            message = await self.ws.receive()
        if message.type is aiohttp.WSMsgType.BINARY and self._inflator is not None:
            return typing.cast(
                "dict[str, typing.Any]", json.loads(self._inflator.decompress(message.data))
            )
        if message.type is aiohttp.WSMsgType.TEXT and self._inflator is None:
            return typing.cast("dict[str, typing.Any]", json.loads(message.data))
        msg = f"unexpected frame {message.type!r}: {message.data!r}"
        raise AssertionError(msg)

    async def receive_close(self) -> int:
        async with asyncio.timeout(WAIT):
            message = await self.ws.receive()
        assert message.type is aiohttp.WSMsgType.CLOSE, message
        return int(message.data)

    async def send(self, payload: dict[str, typing.Any]) -> None:
        await self.ws.send_bytes(json.dumps(payload).encode())

    async def identify(self, token: str, intents: int, shard: tuple[int, int] = (0, 1)) -> None:
        await self.send(
            {
                "op": 2,
                "d": {"token": token, "intents": intents, "shard": list(shard), "properties": {}},
            }
        )


@pytest.fixture
def raw_gateway(
    info: SandboxInfo, http: aiohttp.ClientSession
) -> Callable[..., typing.AsyncContextManager[RawGateway]]:
    import contextlib

    @contextlib.asynccontextmanager
    async def connect(*, compress: str | None = "zlib-stream") -> AsyncIterator[RawGateway]:
        query = {"v": "10", "encoding": "json"} | ({"compress": compress} if compress else {})
        async with http.ws_connect(info.gateway_url, params=query) as ws:
            yield RawGateway(ws, zlib_stream=compress == "zlib-stream")

    return connect


async def control(
    http: aiohttp.ClientSession,
    info: SandboxInfo,
    method: str,
    path: str,
    body: dict[str, typing.Any] | None = None,
    status: int = 200,
) -> dict[str, typing.Any]:
    """Call the sandbox's control API (`/_sandbox/...`); checks the status, returns the JSON."""
    async with http.request(method, f"{info.control_url}{path}", json=body) as response:
        assert response.status == status, await response.text()
        return typing.cast("dict[str, typing.Any]", await response.json())


async def use_command(
    http: aiohttp.ClientSession, info: SandboxInfo, **body: object
) -> dict[str, typing.Any]:
    """A member uses a slash command (`POST /interactions`): `{"id", "token"}`."""
    return await control(http, info, "POST", "/interactions", body)


async def inject(
    http: aiohttp.ClientSession, info: SandboxInfo, **body: object
) -> dict[str, typing.Any]:
    """A member posts a message (`POST /messages`): the message's payload."""
    return await control(http, info, "POST", "/messages", body)


async def post_message(
    http: aiohttp.ClientSession, info: SandboxInfo, channel_id: int, author_id: int, content: str
) -> int:
    """A member posts `content` in a channel; returns the message id."""
    body = {"channel_id": str(channel_id), "author_id": str(author_id), "content": content}
    return int((await inject(http, info, **body))["id"])


def target_of(info: SandboxInfo) -> DiscordTarget:
    """The product's view of this sandbox: where Discord's REST is, the bot's token."""
    from pydantic import SecretStr

    return DiscordTarget(
        rest_url=info.rest_url,
        token=SecretStr(info.bot_token),
        application_id=info.application_id,
        is_sandbox=True,
        sku_id=info.sku_id,
        identify_interval=info.identify_interval,
    )
