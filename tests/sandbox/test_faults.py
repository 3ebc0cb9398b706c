"""REST fault injection (`/_sandbox/faults/rest`): slow answers, 429s and 5xx, seen by a bare
HTTP client and by hikari's REST client, each faulted call in the call log."""

from __future__ import annotations

import time
import typing

import aiohttp
import hikari
import pytest

from tests.support.sandbox import control
from tests.support.world import channel_named, demo_guild
from townsquare.sandbox.control.common import ControlError
from townsquare.sandbox.control.faults import RestFaults

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from townsquare.sandbox import Sandbox, SandboxInfo

MESSAGES: typing.Final = "/api/v10/channels/{channel_id}/messages"


def auth(info: SandboxInfo) -> dict[str, str]:
    return {"Authorization": f"Bot {info.bot_token}"}


def general(sandbox: Sandbox) -> int:
    return channel_named(demo_guild(sandbox), "general")


def messages_in(sandbox: Sandbox, channel_id: int) -> list[str]:
    return [m.content for m in sandbox.world.messages.values() if m.channel_id == channel_id]


async def rest_calls(http: aiohttp.ClientSession, info: SandboxInfo) -> list[dict[str, typing.Any]]:
    async with http.get(f"{info.control_url}/rest-calls") as response:
        return typing.cast("list[dict[str, typing.Any]]", await response.json())


@pytest.fixture
async def rest(info: SandboxInfo) -> AsyncIterator[hikari.api.RESTClient]:
    app = hikari.RESTApp(url=info.rest_url)
    await app.start()
    try:
        async with app.acquire(info.bot_token, hikari.TokenType.BOT) as client:
            yield client
    finally:
        await app.close()


async def test_a_503_before_the_route_changes_nothing_and_is_logged(
    http: aiohttp.ClientSession, sandbox: Sandbox, info: SandboxInfo
) -> None:
    channel = general(sandbox)
    rule = await control(
        http,
        info,
        "POST",
        "/faults/rest",
        {"method": "post", "route": MESSAGES, "status": 503, "count": 2},
    )
    url = f"{info.rest_url}/channels/{channel}/messages"
    statuses = []
    for n in range(3):
        async with http.post(url, headers=auth(info), json={"content": f"try {n}"}) as response:
            statuses.append(response.status)
            body = await response.json()
    assert statuses == [503, 503, 200]
    assert body["content"] == "try 2"
    assert messages_in(sandbox, channel) == ["try 2"]
    posts = [c for c in await rest_calls(http, info) if c["route"] == MESSAGES]
    assert [(c["status"], c["fault"]) for c in posts] == [
        (503, rule["id"]),
        (503, rule["id"]),
        (200, None),
    ]
    assert await control(http, info, "GET", "/faults/rest") == []  # spent after two


async def test_a_5xx_answer_is_discords_json(
    http: aiohttp.ClientSession, sandbox: Sandbox, info: SandboxInfo
) -> None:
    await control(http, info, "POST", "/faults/rest", {"path": "/api/v10/users/", "status": 502})
    async with http.get(f"{info.rest_url}/users/@me", headers=auth(info)) as response:
        assert response.status == 502
        assert await response.json() == {"message": "502: Bad Gateway", "code": 0}
    # the path prefix leaves other routes alone
    async with http.get(f"{info.rest_url}/gateway/bot", headers=auth(info)) as response:
        assert response.status == 200


async def test_an_answer_lost_after_the_route_ran(
    http: aiohttp.ClientSession, sandbox: Sandbox, info: SandboxInfo
) -> None:
    """`when: after`: the message exists, yet the bot hears 500 (so a blind retry doubles it)."""
    channel = general(sandbox)
    await control(
        http,
        info,
        "POST",
        "/faults/rest",
        {"route": MESSAGES, "status": 500, "when": "after", "count": 1},
    )
    url = f"{info.rest_url}/channels/{channel}/messages"
    async with http.post(url, headers=auth(info), json={"content": "once"}) as response:
        assert response.status == 500
        assert await response.json() == {"message": "500: Internal Server Error", "code": 0}
    assert messages_in(sandbox, channel) == ["once"]


async def test_a_429_carries_discords_body_and_headers(
    http: aiohttp.ClientSession, sandbox: Sandbox, info: SandboxInfo
) -> None:
    await control(
        http,
        info,
        "POST",
        "/faults/rest",
        {"route": "/api/v10/users/{user_id}", "status": 429, "retry_after": 2.5, "count": 1},
    )
    await control(
        http,
        info,
        "POST",
        "/faults/rest",
        {"path": "/api/v10/gateway", "status": 429, "global": True, "count": 1},
    )
    async with http.get(f"{info.rest_url}/users/{info.application_id}", headers=auth(info)) as r:
        assert r.status == 429
        assert await r.json() == {
            "message": "You are being rate limited.",
            "retry_after": 2.5,
            "global": False,
            "code": 0,
        }
        assert r.headers["Retry-After"] == "3"
        assert r.headers["X-RateLimit-Scope"] == "shared"
        assert "X-RateLimit-Global" not in r.headers
    async with http.get(f"{info.rest_url}/gateway/bot", headers=auth(info)) as r:
        assert r.status == 429
        assert (await r.json())["global"] is True
        assert r.headers["X-RateLimit-Global"] == "true"
        assert r.headers["X-RateLimit-Scope"] == "global"


async def test_a_delay_slows_the_call_which_then_succeeds(
    http: aiohttp.ClientSession, sandbox: Sandbox, info: SandboxInfo
) -> None:
    rule = await control(
        http,
        info,
        "POST",
        "/faults/rest",
        {"method": "GET", "path": "/api/v10/users/", "delay_ms": 300},
    )
    started = time.monotonic()
    async with http.get(f"{info.rest_url}/users/@me", headers=auth(info)) as response:
        assert response.status == 200
    assert time.monotonic() - started >= 0.3  # a lower bound: asyncio never wakes early
    call = next(c for c in await rest_calls(http, info) if c["route"] == "/api/v10/users/@me")
    assert (call["status"], call["fault"]) == (200, rule["id"])


async def test_hikari_waits_out_a_429_and_retries_a_503(
    http: aiohttp.ClientSession,
    sandbox: Sandbox,
    info: SandboxInfo,
    rest: hikari.api.RESTClient,
) -> None:
    channel = general(sandbox)
    await control(
        http,
        info,
        "POST",
        "/faults/rest",
        {"route": MESSAGES, "status": 429, "retry_after": 0.2, "count": 1},
    )
    message = await rest.create_message(channel, "after a 429")
    assert message.content == "after a 429"
    await control(
        http, info, "POST", "/faults/rest", {"route": MESSAGES, "status": 503, "count": 1}
    )
    await rest.create_message(channel, "after a 503")
    assert messages_in(sandbox, channel) == ["after a 429", "after a 503"]
    posts = [c for c in await rest_calls(http, info) if c["route"] == MESSAGES]
    assert [c["status"] for c in posts] == [429, 200, 503, 200]
    assert [c["fault"] is not None for c in posts] == [True, False, True, False]


async def test_hikari_gives_up_on_a_lasting_5xx(
    http: aiohttp.ClientSession,
    sandbox: Sandbox,
    info: SandboxInfo,
) -> None:
    await control(http, info, "POST", "/faults/rest", {"path": "/api/v10/users/", "status": 500})
    app = hikari.RESTApp(url=info.rest_url, max_retries=0)
    await app.start()
    try:
        async with app.acquire(info.bot_token, hikari.TokenType.BOT) as client:
            with pytest.raises(hikari.InternalServerError):
                await client.fetch_my_user()
    finally:
        await app.close()


async def test_clearing_rules(
    http: aiohttp.ClientSession, sandbox: Sandbox, info: SandboxInfo
) -> None:
    first = await control(http, info, "POST", "/faults/rest", {"status": 500})
    second = await control(http, info, "POST", "/faults/rest", {"delay_ms": 10})
    assert [r["id"] for r in await control(http, info, "GET", "/faults/rest")] == [
        first["id"],
        second["id"],
    ]
    assert await control(http, info, "DELETE", f"/faults/rest/{first['id']}") == {"removed": 1}
    await control(http, info, "DELETE", f"/faults/rest/{first['id']}", status=404)
    assert await control(http, info, "DELETE", "/faults/rest") == {"removed": 1}
    async with http.get(f"{info.rest_url}/users/@me", headers=auth(info)) as response:
        assert response.status == 200


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "a fault needs a status or a delay_ms"),
        ({"status": 404}, "status must be 429, 500, 502 or 503"),
        ({"status": 500, "method": "TRACE"}, "method must be one of"),
        ({"status": 500, "path": "channels"}, "path must be a string starting with /"),
        ({"status": 500, "probability": 1.5}, "probability must be a number 0..1"),
        ({"status": 500, "count": 0}, "count must be a positive integer"),
        ({"delay_ms": 120_000}, "delay_ms must be a number 0..60000"),
        ({"status": 500, "when": "during"}, 'when must be "before" or "after"'),
        ({"status": 429, "when": "after"}, "a 429 is never answered after the call ran"),
        ({"status": 500, "global": "yes"}, "global must be true or false"),
    ],
)
async def test_bad_rules_are_400_naming_the_field(
    http: aiohttp.ClientSession, info: SandboxInfo, body: dict[str, typing.Any], error: str
) -> None:
    answer = await control(http, info, "POST", "/faults/rest", body, status=400)
    assert answer["error"].startswith(error)


def test_duration_and_probability() -> None:
    now = [100.0]
    faults = RestFaults(seed=1, clock=lambda: now[0])
    faults.add({"status": 503, "duration": 5})
    assert faults.pick("GET", "/api/v10/users/@me", "/api/v10/users/@me") is not None
    now[0] = 105.0
    assert faults.pick("GET", "/api/v10/users/@me", "/api/v10/users/@me") is None
    assert faults.rules == []
    faults.add({"status": 503, "probability": 0.25})
    fired = sum(faults.pick("GET", "/x", "/x") is not None for _ in range(2000))
    assert 400 < fired < 600  # about a quarter, from a seeded generator
    faults.add({"status": 500, "probability": 0})
    faults.remove()
    with pytest.raises(ControlError):
        faults.add({"status": 503, "duration": 0})
