"""Incoming webhooks (execute by token alone) and `enforce_nonce` on channel messages."""

from __future__ import annotations

import typing

from tests.support.world import channel_named, demo_guild
from townsquare.sandbox.rest.routes_channel_webhooks import create_webhook

if typing.TYPE_CHECKING:
    import aiohttp

    from townsquare.sandbox import Sandbox


async def test_a_webhook_posts_by_its_token_alone(
    http: aiohttp.ClientSession, sandbox: Sandbox
) -> None:
    channel = channel_named(demo_guild(sandbox), "staff-chat")
    webhook = create_webhook(sandbox.world, sandbox.world.channel(channel), "ops")  # type: ignore[arg-type]
    url = f"{sandbox.info.rest_url}/webhooks/{webhook.id}/{webhook.token}"
    async with http.post(url, json={"content": "first"}) as response:
        assert response.status == 204
    async with http.post(url, params={"wait": "true"}, json={"content": "second"}) as response:
        assert response.status == 200
        body = await response.json()
    assert body["webhook_id"] == str(webhook.id)
    assert body["author"]["id"] == str(webhook.id)
    assert body["channel_id"] == str(channel)
    assert [m.content for m in sandbox.world.messages.values() if m.channel_id == channel] == [
        "first",
        "second",
    ]
    refusals = [
        (f"{sandbox.info.rest_url}/webhooks/{webhook.id}/wrong", {"content": "x"}, 401, 50027),
        (f"{sandbox.info.rest_url}/webhooks/12345/{webhook.token}", {"content": "x"}, 404, 10015),
        (url, {"content": ""}, 400, 50006),
        (url, {"content": "x" * 2001}, 400, 50035),
    ]
    for target, payload, status, code in refusals:
        async with http.post(target, json=payload) as response:
            assert (response.status, (await response.json())["code"]) == (status, code), target


async def test_enforce_nonce_returns_the_message_already_posted(
    http: aiohttp.ClientSession, sandbox: Sandbox
) -> None:
    info = sandbox.info
    channel = channel_named(demo_guild(sandbox), "general")
    url = f"{info.rest_url}/channels/{channel}/messages"
    headers = {"Authorization": f"Bot {info.bot_token}"}
    ids = []
    for body in (
        {"content": "once", "nonce": "n-1", "enforce_nonce": True},
        {"content": "once again", "nonce": "n-1", "enforce_nonce": True},
        {"content": "not enforced", "nonce": "n-1"},
    ):
        async with http.post(url, json=body, headers=headers) as response:
            assert response.status == 200
            ids.append((await response.json())["id"])
    assert ids[0] == ids[1] != ids[2]
