"""REST and control API details, with a bare HTTP client."""

from __future__ import annotations

import asyncio
import io
import json
import sys
import typing

import aiohttp
import pytest

from townsquare.sandbox import Sandbox, SandboxSettings
from townsquare.sandbox.rest import Bucket, RateLimitSettings

if typing.TYPE_CHECKING:
    from townsquare.sandbox import SandboxInfo


def auth(info: SandboxInfo) -> dict[str, str]:
    return {"Authorization": f"Bot {info.bot_token}"}


def general_id(sandbox: Sandbox) -> int:
    guild = next(iter(sandbox.world.guilds.values()))
    return next(c.id for c in guild.channels.values() if c.name == "general")


async def test_missing_token_is_401_json(http: aiohttp.ClientSession, info: SandboxInfo) -> None:
    async with http.get(f"{info.rest_url}/users/@me") as response:
        assert response.status == 401
        assert await response.json() == {"message": "401: Unauthorized", "code": 0}


async def test_unknown_route_and_entity_errors(
    http: aiohttp.ClientSession, info: SandboxInfo
) -> None:
    async with http.get(f"{info.rest_url}/nowhere", headers=auth(info)) as response:
        assert response.status == 404
        assert await response.json() == {"message": "404: Not Found", "code": 0}
    async with http.get(f"{info.rest_url}/channels/1", headers=auth(info)) as response:
        assert response.status == 404
        assert await response.json() == {"message": "Unknown Channel", "code": 10003}
    async with http.get(f"{info.rest_url}/channels/abc", headers=auth(info)) as response:
        assert response.status == 400
        assert (await response.json())["code"] == 50035


async def test_rate_limit_headers_on_every_response(
    http: aiohttp.ClientSession, info: SandboxInfo
) -> None:
    async with http.get(f"{info.rest_url}/gateway/bot", headers=auth(info)) as response:
        assert response.status == 200
        body = await response.json()
        headers = response.headers
    assert body["url"] == info.gateway_url
    assert set(body["session_start_limit"]) == {
        "total",
        "remaining",
        "reset_after",
        "max_concurrency",
    }
    for name in ("Bucket", "Limit", "Remaining", "Reset", "Reset-After"):
        assert f"X-RateLimit-{name}" in headers


async def test_content_limits(
    http: aiohttp.ClientSession, sandbox: Sandbox, info: SandboxInfo
) -> None:
    url = f"{info.rest_url}/channels/{general_id(sandbox)}/messages"
    async with http.post(url, headers=auth(info), json={"content": "x" * 2001}) as response:
        assert response.status == 400
        body = await response.json()
    assert body["code"] == 50035
    assert body["errors"]["content"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    async with http.post(url, headers=auth(info), json={}) as response:
        assert response.status == 400
        assert (await response.json())["code"] == 50006


@pytest.mark.parametrize(
    ("embed", "path", "code"),
    [
        ({"title": "t" * 257}, ["0", "title"], "BASE_TYPE_MAX_LENGTH"),
        ({"description": "d" * 4097}, ["0", "description"], "BASE_TYPE_MAX_LENGTH"),
        ({"footer": {"text": "f" * 2049}}, ["0", "footer", "text"], "BASE_TYPE_MAX_LENGTH"),
        ({"author": {"name": "a" * 257}}, ["0", "author", "name"], "BASE_TYPE_MAX_LENGTH"),
        (
            {"fields": [{"name": "n", "value": "v"}] * 26},
            ["0", "fields"],
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            {"fields": [{"name": "n", "value": "v" * 1025}]},
            ["0", "fields", "0", "value"],
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            {"description": "d" * 4000, "fields": [{"name": "n", "value": "v" * 1000}] * 3},
            ["0"],
            "MAX_EMBED_SIZE_EXCEEDED",
        ),
    ],
)
async def test_embed_limits(
    http: aiohttp.ClientSession,
    sandbox: Sandbox,
    info: SandboxInfo,
    embed: dict[str, typing.Any],
    path: list[str],
    code: str,
) -> None:
    url = f"{info.rest_url}/channels/{general_id(sandbox)}/messages"
    async with http.post(url, headers=auth(info), json={"embeds": [embed]}) as response:
        assert response.status == 400
        body = await response.json()
    node = body["errors"]["embeds"]
    for part in path:
        node = node[part]
    assert node["_errors"][0]["code"] == code
    within = {"title": "t" * 256, "fields": [{"name": "n", "value": "v" * 1024}] * 4}
    async with http.post(url, headers=auth(info), json={"embeds": [within]}) as response:
        assert response.status == 200


async def test_component_custom_ids_are_at_most_100_characters(
    http: aiohttp.ClientSession, sandbox: Sandbox, info: SandboxInfo
) -> None:
    url = f"{info.rest_url}/channels/{general_id(sandbox)}/messages"

    def button(custom_id: str) -> dict[str, typing.Any]:
        row = {"type": 2, "style": 1, "label": "ok", "custom_id": custom_id}
        return {"content": "pick", "components": [{"type": 1, "components": [row]}]}

    async with http.post(url, headers=auth(info), json=button("x" * 101)) as response:
        assert response.status == 400
        body = await response.json()
    error = body["errors"]["components"]["0"]["components"]["0"]["custom_id"]["_errors"][0]
    assert error["code"] == "BASE_TYPE_BAD_LENGTH"
    async with http.post(url, headers=auth(info), json=button("x" * 100)) as response:
        assert response.status == 200


async def test_exceeding_a_bucket_answers_429() -> None:
    settings = SandboxSettings(rate_limits=RateLimitSettings(default=Bucket(2, 60.0)))
    async with Sandbox(settings=settings) as info, aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(3):
            async with http.get(f"{info.rest_url}/users/@me", headers=auth(info)) as response:
                statuses.append(response.status)
                last = await response.json()
                remaining = response.headers["X-RateLimit-Remaining"]
    assert statuses == [200, 200, 429]
    assert remaining == "0"
    assert last["retry_after"] > 0
    assert last["global"] is False


async def test_control_inject_and_rest_log(
    http: aiohttp.ClientSession, sandbox: Sandbox, info: SandboxInfo
) -> None:
    general = general_id(sandbox)
    guild = next(iter(sandbox.world.guilds.values()))
    author = next(m for m in guild.members if m != info.application_id)
    async with http.post(
        f"{info.control_url}/messages",
        json={"channel_id": str(general), "author_id": str(author), "content": "hi"},
    ) as response:
        assert response.status == 200
        message = await response.json()
    assert message["author"]["id"] == str(author)
    async with http.get(
        f"{info.rest_url}/channels/{general}/messages/{message['id']}", headers=auth(info)
    ) as response:
        assert (await response.json())["content"] == "hi"
    async with http.get(f"{info.control_url}/rest-calls") as response:
        calls = await response.json()
    assert calls[-1]["route"] == "/api/v10/channels/{channel_id}/messages/{message_id}"
    assert calls[-1]["status"] == 200
    async with http.get(f"{info.control_url}/world") as response:
        world = await response.json()
    assert world["guilds"][0]["name"] == "Town Square Demo"
    assert len(world["guilds"][0]["members"]) == len(guild.members)
    assert world["message_count"] == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"channel_id": "1", "author_id": "1", "content": "x"}, 404),
        ({"channel_id": "GENERAL", "author_id": "1", "content": "x"}, 400),
        ({"channel_id": "GENERAL", "author_id": "AUTHOR", "content": ""}, 400),
        ({"channel_id": "GENERAL", "author_id": "oops", "content": "x"}, 400),
    ],
    ids=["unknown-channel", "not-a-member", "empty-content", "bad-id"],
)
async def test_control_inject_errors(
    http: aiohttp.ClientSession,
    sandbox: Sandbox,
    info: SandboxInfo,
    body: dict[str, str],
    status: int,
) -> None:
    guild = next(iter(sandbox.world.guilds.values()))
    author = next(m for m in guild.members if m != info.application_id)
    body = {
        k: v.replace("GENERAL", str(general_id(sandbox))).replace("AUTHOR", str(author))
        for k, v in body.items()
    }
    async with http.post(f"{info.control_url}/messages", json=body) as response:
        assert response.status == status
        assert "error" in await response.json()


class _Stdout(io.StringIO):
    """Captures stdout and signals the first write."""

    def __init__(self) -> None:
        super().__init__()
        self.written = asyncio.Event()

    def write(self, text: str) -> int:
        count = super().write(text)
        self.written.set()
        return count


async def test_run_sandbox_prints_one_json_line_and_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    from townsquare.sandbox import run_sandbox

    stdout = _Stdout()
    monkeypatch.setattr(sys, "stdout", stdout)
    task = asyncio.create_task(run_sandbox("127.0.0.1", 0, "demo", 0, 1, True))
    try:
        await asyncio.wait_for(stdout.written.wait(), timeout=10)
        [line] = stdout.getvalue().splitlines()
        info = json.loads(line)
        assert set(info) == {
            "rest_url",
            "gateway_url",
            "bot_token",
            "application_id",
            "oauth_client_id",
            "oauth_client_secret",
            "control_url",
            "sku_id",
            "identify_interval",
        }
        async with aiohttp.ClientSession() as http:
            headers = {"Authorization": f"Bot {info['bot_token']}"}
            async with http.get(f"{info['rest_url']}/users/@me", headers=headers) as response:
                assert response.status == 200
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.mark.parametrize(
    "limits",
    [RateLimitSettings(global_per_second=3), RateLimitSettings(default=Bucket(2, 1.0))],
    ids=["global", "bucket"],
)
async def test_hikari_waits_out_429s(limits: RateLimitSettings) -> None:
    import hikari

    async with Sandbox(settings=SandboxSettings(rate_limits=limits)) as info:
        app = hikari.RESTApp(url=info.rest_url)
        await app.start()
        try:
            async with app.acquire(info.bot_token, hikari.TokenType.BOT) as client:
                users = await asyncio.gather(
                    *(client.fetch_user(info.application_id) for _ in range(6))
                )
        finally:
            await app.close()
        assert {u.id for u in users} == {info.application_id}
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{info.control_url}/rest-calls") as response,
        ):
            statuses = [call["status"] for call in await response.json()]
    assert statuses.count(200) == 6
    if limits.global_per_second == 3:
        assert 429 in statuses
