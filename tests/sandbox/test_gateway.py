"""Gateway protocol details, with a bare websocket client."""

from __future__ import annotations

import typing

import aiohttp
import pytest

from tests.support.sandbox import RawGateway
from tests.support.waiting import wait_until
from townsquare.sandbox import Sandbox, SandboxSettings
from townsquare.sandbox.gateway import GatewaySettings
from townsquare.sandbox.intents import Intent

if typing.TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractAsyncContextManager

    from townsquare.sandbox import SandboxInfo

    type Connect = Callable[..., AbstractAsyncContextManager[RawGateway]]

UNPRIVILEGED = int(Intent.GUILDS | Intent.GUILD_MESSAGES | Intent.GUILD_VOICE_STATES)


async def test_zlib_stream_frames_are_binary_and_sync_flushed(info: SandboxInfo) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            info.gateway_url, params={"v": "10", "encoding": "json", "compress": "zlib-stream"}
        ) as ws,
    ):
        message = await ws.receive(timeout=10)
    assert message.type is aiohttp.WSMsgType.BINARY
    assert message.data.endswith(b"\x00\x00\xff\xff")


async def test_hello_ready_and_guild_create(raw_gateway: Connect, sandbox: Sandbox) -> None:
    async with raw_gateway() as gateway:
        hello = await gateway.receive()
        assert hello["op"] == 10
        assert hello["d"]["heartbeat_interval"] == 41_250
        await gateway.identify(sandbox.info.bot_token, UNPRIVILEGED)
        ready = await gateway.receive()
        assert (ready["op"], ready["t"], ready["s"]) == (0, "READY", 1)
        data = ready["d"]
        assert data["v"] == 10
        assert data["user"]["discriminator"] == "0"
        assert set(data["user"]) >= {"id", "username", "avatar", "mfa_enabled", "flags"}
        assert data["resume_gateway_url"] == sandbox.info.gateway_url
        assert data["application"] == {
            "id": str(sandbox.info.application_id),
            "flags": sandbox.world.application.flags,
        }
        created = await gateway.receive()
        assert (created["t"], created["s"]) == ("GUILD_CREATE", 2)
        assert created["d"]["name"] == "Town Square Demo"
        assert created["d"]["unavailable"] is False
        assert {"roles", "channels", "members", "voice_states"} <= set(created["d"])
        await gateway.send({"op": 1, "d": 2})
        assert (await gateway.receive())["op"] == 11


async def test_plain_connection_gets_text_frames(raw_gateway: Connect) -> None:
    async with raw_gateway(compress=None) as gateway:
        assert (await gateway.receive())["op"] == 10


async def test_zstd_stream_is_refused(info: SandboxInfo) -> None:
    params = {"v": "10", "encoding": "json", "compress": "zstd-stream"}
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await http.ws_connect(info.gateway_url, params=params)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"op": 8, "d": {"guild_id": "1"}}, 4003),
        ({"op": 2, "d": {"token": "TOKEN", "intents": 1 << 30, "shard": [0, 1]}}, 4013),
        ({"op": 2, "d": {"token": "TOKEN", "intents": 1, "shard": [2, 2]}}, 4010),
        ({"op": 2, "d": {"token": "nope", "intents": 1, "shard": [0, 1]}}, 4004),
    ],
    ids=["not-authenticated", "invalid-intents", "invalid-shard", "bad-token"],
)
async def test_close_codes(
    raw_gateway: Connect, info: SandboxInfo, payload: dict[str, typing.Any], code: int
) -> None:
    if payload["d"].get("token") == "TOKEN":
        payload["d"]["token"] = info.bot_token
    async with raw_gateway() as gateway:
        await gateway.receive()
        await gateway.send(payload)
        assert await gateway.receive_close() == code


async def test_resume_of_unknown_session_is_invalid_session(
    raw_gateway: Connect, info: SandboxInfo
) -> None:
    async with raw_gateway() as gateway:
        await gateway.receive()
        await gateway.send(
            {"op": 6, "d": {"token": info.bot_token, "session_id": "nope", "seq": 3}}
        )
        invalid = await gateway.receive()
        assert (invalid["op"], invalid["d"]) == (9, False)


async def test_guild_reaches_only_its_shard(raw_gateway: Connect, sandbox: Sandbox) -> None:
    guild_id = next(iter(sandbox.world.guilds))
    owner = (guild_id >> 22) % 2
    for shard_id in (0, 1):
        async with raw_gateway() as gateway:
            await gateway.receive()
            await gateway.identify(sandbox.info.bot_token, UNPRIVILEGED, shard=(shard_id, 2))
            ready = await gateway.receive()
            ids = [g["id"] for g in ready["d"]["guilds"]]
            assert ids == ([str(guild_id)] if shard_id == owner else [])


async def test_message_content_needs_its_intent(
    raw_gateway: Connect, sandbox: Sandbox, info: SandboxInfo
) -> None:
    guild = next(iter(sandbox.world.guilds.values()))
    general = next(c for c in guild.channels.values() if c.name == "general")
    author = next(m for m in guild.members if m != sandbox.world.application.bot_user_id)
    async with raw_gateway() as gateway:
        await gateway.receive()
        await gateway.identify(info.bot_token, UNPRIVILEGED)
        await gateway.receive()
        await gateway.receive()
        sandbox.world.create_message(general, author, "secret words")
        sandbox.world.create_message(general, author, f"hey <@{info.application_id}>")
        gated = await gateway.receive()
        mention = await gateway.receive()
    assert gated["t"] == "MESSAGE_CREATE"
    assert gated["d"]["content"] == ""
    assert mention["d"]["content"] == f"hey <@{info.application_id}>"


async def test_member_chunks_answer_request_guild_members(
    raw_gateway: Connect, sandbox: Sandbox
) -> None:
    guild = next(iter(sandbox.world.guilds.values()))
    async with raw_gateway() as gateway:
        await gateway.receive()
        await gateway.identify(sandbox.info.bot_token, UNPRIVILEGED | int(Intent.GUILD_MEMBERS))
        await gateway.receive()
        created = await gateway.receive()
        assert len(created["d"]["members"]) < len(guild.members)
        await gateway.send(
            {"op": 8, "d": {"guild_id": str(guild.id), "query": "", "limit": 0, "nonce": "n1"}}
        )
        chunk = await gateway.receive()
    assert chunk["t"] == "GUILD_MEMBERS_CHUNK"
    assert (chunk["d"]["chunk_index"], chunk["d"]["chunk_count"], chunk["d"]["nonce"]) == (
        0,
        1,
        "n1",
    )
    assert len(chunk["d"]["members"]) == len(guild.members)


async def test_member_requests_by_id_answer_as_discord_documents(
    raw_gateway: Connect, sandbox: Sandbox
) -> None:
    """`user_ids` needs no intent; strangers come back in `not_found`; at most 100 ids are
    answered; a nonce over 32 bytes is dropped; presences stay off without GUILD_PRESENCES."""
    guild = next(iter(sandbox.world.guilds.values()))
    members = [str(m) for m in guild.members][:3]
    strangers = [str(10**17 + n) for n in range(120)]
    async with raw_gateway() as gateway:
        await gateway.receive()
        await gateway.identify(sandbox.info.bot_token, UNPRIVILEGED)
        await gateway.receive()
        await gateway.receive()
        request = {"guild_id": str(guild.id), "user_ids": members + strangers}
        await gateway.send({"op": 8, "d": request | {"nonce": "n" * 32, "presences": True}})
        chunk = (await gateway.receive())["d"]
        await gateway.send({"op": 8, "d": request | {"nonce": "n" * 33}})
        unnamed = (await gateway.receive())["d"]
    assert (chunk["chunk_index"], chunk["chunk_count"], chunk["nonce"]) == (0, 1, "n" * 32)
    assert sorted(m["user"]["id"] for m in chunk["members"]) == sorted(members)
    assert chunk["not_found"] == strangers[:97]
    assert "presences" not in chunk
    assert "nonce" not in unnamed


async def test_the_whole_member_list_needs_the_intent_and_is_rate_limited(
    raw_gateway: Connect, sandbox: Sandbox
) -> None:
    guild = next(iter(sandbox.world.guilds.values()))
    everyone = {"guild_id": str(guild.id), "query": "", "limit": 0}
    async with raw_gateway() as gateway:
        await gateway.receive()
        await gateway.identify(sandbox.info.bot_token, UNPRIVILEGED)
        await gateway.receive()
        await gateway.receive()
        await gateway.send({"op": 8, "d": everyone | {"nonce": "none"}})
        await gateway.send({"op": 8, "d": {"guild_id": str(guild.id), "user_ids": []}})
        answered = (await gateway.receive())["d"]  # the list without the intent: nothing
    assert "nonce" not in answered and answered["members"] == []
    async with raw_gateway() as gateway:
        await gateway.receive()
        await gateway.identify(sandbox.info.bot_token, UNPRIVILEGED | int(Intent.GUILD_MEMBERS))
        await gateway.receive()
        await gateway.receive()
        await gateway.send({"op": 8, "d": everyone | {"nonce": "a"}})
        first = await gateway.receive()
        await gateway.send({"op": 8, "d": everyone | {"nonce": "b"}})
        second = await gateway.receive()
        await gateway.send({"op": 8, "d": {"guild_id": str(guild.id)}})
        assert await gateway.receive_close() == 4001
    assert first["t"] == "GUILD_MEMBERS_CHUNK"
    assert second["t"] == "RATE_LIMITED"
    assert second["d"]["opcode"] == 8
    assert second["d"]["meta"] == {"guild_id": str(guild.id), "nonce": "b"}
    assert 0 < second["d"]["retry_after"] <= 30


async def test_sending_limit_closes_with_4008(raw_gateway: Connect, sandbox: Sandbox) -> None:
    async with raw_gateway() as gateway:
        await gateway.receive()
        for _ in range(sandbox.hub.settings.send_limit + 1):
            await gateway.send({"op": 1, "d": None})
        while True:
            message = await gateway.ws.receive(timeout=10)
            if message.type is aiohttp.WSMsgType.CLOSE:
                assert message.data == 4008
                break


async def test_a_client_that_stops_heartbeating_is_closed_with_4009(
    http: aiohttp.ClientSession,
) -> None:
    settings = SandboxSettings(gateway=GatewaySettings(heartbeat_interval_ms=100))
    sandbox = Sandbox(settings=settings)
    async with (
        sandbox as info,
        http.ws_connect(info.gateway_url, params={"v": "10", "encoding": "json"}) as ws,
    ):
        gateway = RawGateway(ws, zlib_stream=False)
        assert (await gateway.receive())["op"] == 10
        await gateway.identify(info.bot_token, UNPRIVILEGED)
        assert (await gateway.receive())["t"] == "READY"
        assert (await gateway.receive())["t"] == "GUILD_CREATE"
        # No heartbeat: after 1.5 intervals the sandbox ends the session.
        assert await gateway.receive_close() == 4009
        assert not sandbox.hub.sessions


async def test_identify_concurrency_is_honoured_per_bucket(http: aiohttp.ClientSession) -> None:
    gateway_settings = GatewaySettings(max_concurrency=2, identify_interval=5.0)
    sandbox = Sandbox(settings=SandboxSettings(gateway=gateway_settings))
    params = {"v": "10", "encoding": "json"}

    async def identify(shard: tuple[int, int]) -> dict[str, typing.Any]:
        """The first answer to IDENTIFY on a fresh connection (it stays open)."""
        ws = await http.ws_connect(info.gateway_url, params=params)
        opened.append(ws)
        gateway = RawGateway(ws, zlib_stream=False)
        assert (await gateway.receive())["op"] == 10
        await gateway.identify(info.bot_token, UNPRIVILEGED, shard)
        return await gateway.receive()

    opened: list[aiohttp.ClientWebSocketResponse] = []
    async with sandbox as info:
        try:
            assert (await identify((0, 4)))["t"] == "READY"
            assert (await identify((1, 4)))["t"] == "READY"  # bucket 1: its own window
            refused = await identify((2, 4))  # bucket 0 again, within 5 s
            assert (refused["op"], refused["d"]) == (9, False)
            # Recorded for the control API: shard, bucket, time, accepted; one violation.
            async with http.get(info.control_url + "/gateway/identifies") as response:
                recorded = await response.json()
            assert [
                (i["shard_id"], i["bucket"], i["accepted"]) for i in recorded["identifies"]
            ] == [
                (0, 0, True),
                (1, 1, True),
                (2, 0, False),
            ]
            assert (recorded["violations"], recorded["resumes"]) == (1, 0)
            assert (recorded["max_concurrency"], recorded["identify_interval"]) == (2, 5.0)
        finally:
            for ws in opened:
                await ws.close()


async def _session_after_its_connection_went(
    http: aiohttp.ClientSession, sandbox: Sandbox, *, close_code: int
) -> tuple[str, int]:
    """Identify on a connection, read READY and GUILD_CREATE, close it with `close_code`, and
    wait until the sandbox has seen it go; returns the session id and the last seq read."""
    info = sandbox.info
    async with http.ws_connect(info.gateway_url, params={"v": "10", "encoding": "json"}) as ws:
        gateway = RawGateway(ws, zlib_stream=False)
        assert (await gateway.receive())["op"] == 10
        await gateway.identify(info.bot_token, UNPRIVILEGED)
        ready = await gateway.receive()
        assert (await gateway.receive())["t"] == "GUILD_CREATE"
        await ws.close(code=close_code)
    session_id = ready["d"]["session_id"]

    def detached() -> bool:
        session = sandbox.hub.sessions.get(session_id)
        return session is None or session.outbox is None

    await wait_until(detached, within=10, what="the sandbox seeing the connection go")
    return session_id, 2


async def _resume(
    http: aiohttp.ClientSession, info: SandboxInfo, session_id: str, seq: int, count: int
) -> list[dict[str, typing.Any]]:
    """RESUME on a new connection; the first `count` payloads after HELLO."""
    async with http.ws_connect(info.gateway_url, params={"v": "10", "encoding": "json"}) as ws:
        gateway = RawGateway(ws, zlib_stream=False)
        assert (await gateway.receive())["op"] == 10
        resume = {"token": info.bot_token, "session_id": session_id, "seq": seq}
        await gateway.send({"op": 6, "d": resume})
        return [await gateway.receive() for _ in range(count)]


async def test_a_new_connection_resumes_a_dropped_session_within_the_window(
    http: aiohttp.ClientSession, sandbox: Sandbox
) -> None:
    # 4000: any close but 1000/1001 leaves the session resumable, as does a dropped connection.
    session_id, seq = await _session_after_its_connection_went(http, sandbox, close_code=4000)
    guild = next(iter(sandbox.world.guilds.values()))
    general = next(c for c in guild.channels.values() if c.name == "general")
    author = next(m for m in guild.members if m != sandbox.world.application.bot_user_id)
    missed = [sandbox.world.create_message(general, author, f"missed {n}") for n in range(3)]

    replayed = await _resume(http, sandbox.info, session_id, seq, 4)
    assert [(p["t"], p["s"]) for p in replayed] == [
        ("MESSAGE_CREATE", 3),
        ("MESSAGE_CREATE", 4),
        ("MESSAGE_CREATE", 5),
        ("RESUMED", 6),
    ]
    assert [p["d"]["id"] for p in replayed[:3]] == [str(m.id) for m in missed]
    assert sandbox.hub.resumes == 1  # counted (the control API's /gateway/identifies)


@pytest.mark.parametrize(
    ("resume_window", "close_code"),
    [(0.0, 4000), (120.0, 1000), (120.0, 1001)],
    ids=["window-passed", "closed-1000", "closed-1001"],
)
async def test_a_session_past_its_window_or_closed_normally_is_invalid(
    http: aiohttp.ClientSession, resume_window: float, close_code: int
) -> None:
    settings = SandboxSettings(gateway=GatewaySettings(resume_window=resume_window))
    sandbox = Sandbox(settings=settings)
    async with sandbox as info:
        session_id, seq = await _session_after_its_connection_went(
            http, sandbox, close_code=close_code
        )
        [invalid] = await _resume(http, info, session_id, seq, 1)
    assert (invalid["op"], invalid["d"]) == (9, False)
