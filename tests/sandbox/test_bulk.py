"""Bulk message injection (the benchmark's load) and the batched gateway frame writer."""

from __future__ import annotations

import typing

import hikari
import pytest

from tests.support.sandbox import Live, RawGateway
from tests.support.world import channel_named, demo_guild, user_named
from townsquare.sandbox.intents import Intent

if typing.TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    import aiohttp

    from townsquare.sandbox import Sandbox, SandboxInfo

    type Connect = Callable[..., AbstractAsyncContextManager[RawGateway]]

INTENTS = int(Intent.GUILDS | Intent.GUILD_MESSAGES | Intent.MESSAGE_CONTENT)


async def test_bulk_messages_reach_hikari_in_order(live: Live) -> None:
    await live.recorder.wait_for(hikari.GuildAvailableEvent)
    body = {
        "channel_id": str(live.channel("general")),
        "author_id": str(live.user("sage")),
        "content": "load",
        "count": 1500,
    }
    async with live.http.post(f"{live.info.control_url}/messages/bulk", json=body) as response:
        assert response.status == 200
        result = await response.json()
    assert result["created"] == 1500
    events = await live.recorder.wait_for(hikari.GuildMessageCreateEvent, count=1500)
    assert [e.content for e in events] == [f"load #{n}" for n in range(1500)]
    assert events[0].message_id == int(result["first_id"])
    assert events[-1].message_id == int(result["last_id"])


@pytest.mark.parametrize("count", [0, 1_000_001, "many"])
async def test_bulk_count_is_checked(
    sandbox: Sandbox, info: SandboxInfo, http: aiohttp.ClientSession, count: object
) -> None:
    guild = demo_guild(sandbox)
    body = {
        "channel_id": str(channel_named(guild, "general")),
        "author_id": str(user_named(sandbox, "sage")),
        "content": "load",
        "count": count,
    }
    async with http.post(f"{info.control_url}/messages/bulk", json=body) as response:
        assert response.status == 400
        assert "count" in (await response.json())["error"]


@pytest.mark.parametrize("compress", [None, "zlib-stream"], ids=["text", "zlib-stream"])
async def test_frames_of_every_length_encoding(
    raw_gateway: Connect, sandbox: Sandbox, compress: str | None
) -> None:
    """Payloads under 126 bytes, under 64 KiB and over 64 KiB use the three RFC 6455 length
    forms; each must arrive whole, in order."""
    guild = demo_guild(sandbox)
    general = guild.channels[channel_named(guild, "general")]
    author = user_named(sandbox, "sage")
    async with raw_gateway(compress=compress) as gateway:
        assert (await gateway.receive())["op"] == 10  # HELLO: a short frame
        await gateway.identify(sandbox.info.bot_token, INTENTS)
        assert (await gateway.receive())["t"] == "READY"
        assert (await gateway.receive())["t"] == "GUILD_CREATE"
        sizes = [10, 1_000, 70_000, 200_000, 5]
        for size in sizes:
            big = [{"description": "x" * size}]
            sandbox.world.create_message(general, author, f"size {size}", embeds=big)
        for size in sizes:
            dispatch = await gateway.receive()
            assert dispatch["t"] == "MESSAGE_CREATE"
            assert dispatch["d"]["content"] == f"size {size}"
            assert len(dispatch["d"]["embeds"][0]["description"]) == size


async def test_permessage_deflate_clients_get_frames_through_aiohttp(
    sandbox: Sandbox, info: SandboxInfo, http: aiohttp.ClientSession
) -> None:
    """A client that negotiates permessage-deflate gets frames aiohttp compresses and frames."""
    params = {"v": "10", "encoding": "json"}
    async with http.ws_connect(info.gateway_url, params=params, compress=15) as ws:
        assert ws.compress == 15
        gateway = RawGateway(ws, zlib_stream=False)
        assert (await gateway.receive())["op"] == 10
        await gateway.identify(info.bot_token, INTENTS)
        assert (await gateway.receive())["t"] == "READY"
        assert (await gateway.receive())["t"] == "GUILD_CREATE"
