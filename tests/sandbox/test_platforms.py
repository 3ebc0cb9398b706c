"""The loopback Twitch, Kick and YouTube: their authentication and documented shapes, seen from
a plain HTTP client (the live alerts' end-to-end tests drive them through the product)."""

from __future__ import annotations

import base64
import typing

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.sandbox import control

if typing.TYPE_CHECKING:
    import aiohttp

    from townsquare.sandbox import Sandbox


async def _token(http: aiohttp.ClientSession, url: str) -> str:
    form = {"client_id": "c", "client_secret": "s", "grant_type": "client_credentials"}
    async with http.post(url, data=form) as answer:
        assert answer.status == 200
        body = await answer.json()
    assert body["expires_in"] > 0 and body["token_type"] == "bearer"
    return str(body["access_token"])


async def test_helix_wants_a_token_and_a_client_id_and_counts_its_rate_limit(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    root = sandbox.info.rest_url.removesuffix("/api/v10")
    users = f"{root}/twitch/helix/users?login=dorian"
    async with http.get(users) as answer:
        assert answer.status == 401
    token = await _token(http, f"{root}/twitch/id/oauth2/token")
    async with http.get(users, headers={"Authorization": f"Bearer {token}"}) as answer:
        assert answer.status == 401  # no Client-Id
    headers = {"Authorization": f"Bearer {token}", "Client-Id": "c"}
    async with http.get(users, headers=headers) as answer:
        assert answer.status == 200
        [user] = (await answer.json())["data"]
        assert int(answer.headers["Ratelimit-Limit"]) == 800
        assert int(answer.headers["Ratelimit-Remaining"]) < 800
    assert user["login"] == "dorian" and user["display_name"] == "Dorian"
    async with http.get(f"{root}/twitch/helix/streams?user_id={user['id']}", headers=headers) as a:
        assert (await a.json())["data"] == []  # offline


async def test_kick_signs_with_the_key_it_publishes(
    sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    root = sandbox.info.rest_url.removesuffix("/api/v10")
    async with http.get(f"{root}/kick/api/public/v1/public-key") as answer:
        pem = (await answer.json())["data"]["public_key"]
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    kick = sandbox.platforms.kick
    elsie = kick.creators["elsie"]
    token = await _token(http, f"{root}/kick/id/oauth/token")
    body = {
        "broadcaster_user_id": int(elsie.user_id),
        "events": [{"name": "livestream.status.updated", "version": 1}],
        "method": "webhook",
    }
    async with http.post(
        f"{root}/kick/api/public/v1/events/subscriptions",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    ) as answer:
        [created] = (await answer.json())["data"]
    assert created["error"] == "" and created["subscription_id"]
    await control(
        http, sandbox.info, "POST", "/platforms/kick/webhook", {"url": "http://127.0.0.1:9/x"}
    )
    [delivery] = kick.go_live(elsie, "t", "c", 1)
    headers = delivery.headers
    signed = (
        f"{headers['Kick-Event-Message-Id']}.{headers['Kick-Event-Message-Timestamp']}.".encode()
        + delivery.body
    )
    signature = base64.b64decode(headers["Kick-Event-Signature"])
    key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())  # raises if wrong


async def test_youtube_data_api_wants_a_key(sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    root = sandbox.info.rest_url.removesuffix("/api/v10")
    async with http.get(f"{root}/youtube/v3/channels?part=snippet&forHandle=dorian") as answer:
        assert answer.status == 403
    url = f"{root}/youtube/v3/channels?part=snippet&forHandle=dorian&key=k"
    async with http.get(url) as answer:
        [channel] = (await answer.json())["items"]
    assert channel["id"].startswith("UC") and len(channel["id"]) == 24
    assert channel["snippet"]["customUrl"] == "@dorian"
