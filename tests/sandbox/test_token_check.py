"""What `townsquare init` asks the sandbox to check a token: the bot's user and application,
and Discord's 401 for a token it does not know."""

from __future__ import annotations

import typing

import aiohttp
import pytest

if typing.TYPE_CHECKING:
    from townsquare.sandbox import Sandbox


@pytest.mark.parametrize("path", ["/users/@me", "/oauth2/applications/@me"])
async def test_a_token_is_known_or_refused_with_401(sandbox: Sandbox, path: str) -> None:
    url = sandbox.info.rest_url + path
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"Authorization": f"Bot {sandbox.info.bot_token}"}) as ok:
            assert ok.status == 200
            body = await ok.json()
        async with http.get(url, headers={"Authorization": "Bot not.a.token"}) as refused:
            assert refused.status == 401
            assert await refused.json() == {"message": "401: Unauthorized", "code": 0}
    expected_id = str(sandbox.world.application.id)
    assert body["id"] == expected_id  # the bot user's id is its application's
    if path.startswith("/oauth2"):
        assert body["bot"]["id"] == str(sandbox.world.application.bot_user_id)
    else:
        assert body["bot"] is True
