"""OAuth2 for the dashboard: consent page, token endpoint, bearer tokens (aiohttp and hikari)."""

from __future__ import annotations

import base64
import re
import typing

import aiohttp
import hikari
import pytest
import yarl

from tests.support.world import user_named

if typing.TYPE_CHECKING:
    from townsquare.sandbox import Sandbox, SandboxInfo

REDIRECT = "http://127.0.0.1:9999/auth/callback"


def authorize_query(info: SandboxInfo, **extra: str) -> dict[str, str]:
    return {
        "client_id": str(info.oauth_client_id),
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "identify guilds",
        "state": "xyz-123",
    } | extra


async def log_in_as(
    http: aiohttp.ClientSession, info: SandboxInfo, user_id: int, **extra: str
) -> yarl.URL:
    """Submit the consent form for `user_id`; the URL the browser is sent back to."""
    form = authorize_query(info, **extra) | {"user_id": str(user_id)}
    async with http.post(info.authorize_url, data=form, allow_redirects=False) as response:
        assert response.status == 302, await response.text()
        return yarl.URL(response.headers["Location"])


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def exchange(
    http: aiohttp.ClientSession, info: SandboxInfo, form: dict[str, str], *, basic: bool = True
) -> tuple[int, dict[str, typing.Any]]:
    headers = {"Authorization": basic_auth(str(info.oauth_client_id), info.oauth_client_secret)}
    if not basic:
        form = form | {
            "client_id": str(info.oauth_client_id),
            "client_secret": info.oauth_client_secret,
        }
    async with http.post(
        f"{info.rest_url}/oauth2/token", data=form, headers=headers if basic else None
    ) as response:
        return response.status, await response.json()


async def bearer_get(
    http: aiohttp.ClientSession, info: SandboxInfo, path: str, token: str
) -> tuple[int, typing.Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{info.rest_url}{path}", headers=headers) as response:
        return response.status, await response.json()


async def test_consent_page_lists_admins_and_plain_members(
    http: aiohttp.ClientSession, sandbox: Sandbox, info: SandboxInfo
) -> None:
    async with http.get(info.authorize_url, params=authorize_query(info)) as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
    listed = [int(uid) for uid in re.findall(r'name="user_id" value="(\d+)"', page)]
    assert listed[0] == user_named(sandbox, "mayor")  # the owner first
    assert user_named(sandbox, "sheriff") in listed  # an admin
    assert user_named(sandbox, "alder") in listed  # a plain member
    assert sandbox.world.application.bot_user_id not in listed
    assert "owner of Town Square Demo" in page
    assert "Admin in Town Square Demo" in page
    assert 'name="state" value="xyz-123"' in page


@pytest.mark.parametrize(
    "change",
    [
        {"client_id": "1"},
        {"redirect_uri": "not a url"},
        {"scope": "root"},
        {"response_type": "token"},
    ],
    ids=["unknown-client", "bad-redirect", "unknown-scope", "implicit-grant"],
)
async def test_invalid_authorize_requests_are_refused(
    http: aiohttp.ClientSession, info: SandboxInfo, change: dict[str, str]
) -> None:
    async with http.get(info.authorize_url, params=authorize_query(info, **change)) as response:
        assert response.status == 400
        assert "Invalid" in await response.text()


async def test_cancel_redirects_with_access_denied(
    http: aiohttp.ClientSession, info: SandboxInfo
) -> None:
    form = authorize_query(info) | {"action": "deny"}
    async with http.post(info.authorize_url, data=form, allow_redirects=False) as response:
        assert response.status == 302
        location = yarl.URL(response.headers["Location"])
    assert location.query["error"] == "access_denied"
    assert location.query["state"] == "xyz-123"
    assert "code" not in location.query


async def test_code_exchange_bearer_reads_and_refresh(
    http: aiohttp.ClientSession, sandbox: Sandbox, info: SandboxInfo
) -> None:
    sheriff = user_named(sandbox, "sheriff")
    location = await log_in_as(http, info, sheriff)
    assert str(location.with_query(None)) == REDIRECT
    assert location.query["state"] == "xyz-123"
    code = location.query["code"]

    status, tokens = await exchange(
        http, info, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    )
    assert status == 200, tokens
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == "identify guilds"
    assert tokens["expires_in"] == 604800

    status, me = await bearer_get(http, info, "/users/@me", tokens["access_token"])
    assert status == 200
    assert me["id"] == str(sheriff)
    assert me["username"] == "sheriff"
    assert "email" not in me  # no email scope
    status, guilds = await bearer_get(http, info, "/users/@me/guilds", tokens["access_token"])
    assert status == 200
    [guild] = guilds
    assert guild["name"] == "Town Square Demo"
    assert guild["owner"] is False
    assert isinstance(guild["permissions"], str)
    assert int(guild["permissions"]) & hikari.Permissions.ADMINISTRATOR

    # A code is spent once.
    status, error = await exchange(
        http, info, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    )
    assert (status, error) == (
        400,
        {"error": "invalid_grant", "error_description": 'Invalid "code" in request.'},
    )

    # Refresh: new tokens; the old access and refresh tokens stop working.
    status, refreshed = await exchange(
        http,
        info,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        basic=False,
    )
    assert status == 200, refreshed
    assert refreshed["access_token"] != tokens["access_token"]
    assert (await bearer_get(http, info, "/users/@me", tokens["access_token"]))[0] == 401
    assert (await bearer_get(http, info, "/users/@me", refreshed["access_token"]))[0] == 200
    status, error = await exchange(
        http, info, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert (status, error["error"]) == (400, "invalid_grant")


async def test_token_endpoint_errors(
    http: aiohttp.ClientSession, sandbox: Sandbox, info: SandboxInfo
) -> None:
    member = user_named(sandbox, "alder")
    code = (await log_in_as(http, info, member)).query["code"]
    status, error = await exchange(
        http,
        info,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT + "/other"},
    )
    assert (status, error) == (
        400,
        {"error": "invalid_grant", "error_description": 'Invalid "redirect_uri" in request.'},
    )
    bad_secret = {"Authorization": basic_auth(str(info.oauth_client_id), "wrong")}
    form = {"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT}
    async with http.post(
        f"{info.rest_url}/oauth2/token", data=form, headers=bad_secret
    ) as response:
        assert (response.status, await response.json()) == (401, {"error": "invalid_client"})
    status, error = await exchange(http, info, {"grant_type": "password"})
    assert (status, error) == (400, {"error": "unsupported_grant_type"})
    async with http.post(f"{info.rest_url}/oauth2/token", json={"grant_type": "x"}) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "invalid_request"


async def test_bearer_token_scope_and_route_limits(
    http: aiohttp.ClientSession, sandbox: Sandbox, info: SandboxInfo
) -> None:
    alder = user_named(sandbox, "alder")
    code = (await log_in_as(http, info, alder, scope="identify")).query["code"]
    _, tokens = await exchange(
        http, info, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    )
    token = tokens["access_token"]
    assert (await bearer_get(http, info, "/users/@me", token))[0] == 200
    status, body = await bearer_get(http, info, "/users/@me/guilds", token)  # no guilds scope
    assert (status, body) == (401, {"message": "401: Unauthorized", "code": 0})
    guild_id = next(iter(sandbox.world.guilds))
    assert (await bearer_get(http, info, f"/guilds/{guild_id}", token))[0] == 401  # bot only
    assert (await bearer_get(http, info, "/users/@me", "forged"))[0] == 401


async def test_hikari_exchanges_the_code_and_reads_with_the_bearer_token(
    http: aiohttp.ClientSession, sandbox: Sandbox, info: SandboxInfo
) -> None:
    mayor, alder = user_named(sandbox, "mayor"), user_named(sandbox, "alder")
    app = hikari.RESTApp(url=info.rest_url)
    await app.start()
    try:
        owners = {}
        for user_id in (mayor, alder):
            code = (await log_in_as(http, info, user_id)).query["code"]
            async with app.acquire(None) as anonymous:
                token = await anonymous.authorize_access_token(
                    info.oauth_client_id, info.oauth_client_secret, code, REDIRECT
                )
                assert set(token.scopes) == {hikari.OAuth2Scope.IDENTIFY, hikari.OAuth2Scope.GUILDS}
                refreshed = await anonymous.refresh_access_token(
                    info.oauth_client_id, info.oauth_client_secret, token.refresh_token
                )
            async with app.acquire(refreshed.access_token, token_type="Bearer") as client:
                me = await client.fetch_my_user()
                assert me.id == user_id
                [guild] = [g async for g in client.fetch_my_guilds()]
                owners[user_id] = guild
        with pytest.raises(hikari.BadRequestError):
            async with app.acquire(None) as anonymous:
                await anonymous.authorize_access_token(
                    info.oauth_client_id, info.oauth_client_secret, code, REDIRECT
                )
    finally:
        await app.close()
    assert owners[mayor].is_owner
    assert owners[mayor].my_permissions & hikari.Permissions.ADMINISTRATOR
    assert not owners[alder].is_owner
    assert not owners[alder].my_permissions & hikari.Permissions.ADMINISTRATOR
    assert owners[alder].my_permissions & hikari.Permissions.SEND_MESSAGES
    assert owners[alder].approximate_member_count == len(
        next(iter(sandbox.world.guilds.values())).members
    )


async def test_authorization_info_member_and_revocation_through_hikari(
    http: aiohttp.ClientSession, sandbox: Sandbox, info: SandboxInfo
) -> None:
    sheriff = user_named(sandbox, "sheriff")
    guild = next(iter(sandbox.world.guilds.values()))
    scope = "identify guilds guilds.members.read"
    code = (await log_in_as(http, info, sheriff, scope=scope)).query["code"]
    app = hikari.RESTApp(url=info.rest_url)
    await app.start()
    try:
        async with app.acquire(None) as anonymous:
            token = await anonymous.authorize_access_token(
                info.oauth_client_id, info.oauth_client_secret, code, REDIRECT
            )
        async with app.acquire(token.access_token, token_type="Bearer") as client:
            authorization = await client.fetch_authorization()
            assert authorization.application.id == info.application_id
            assert authorization.user.id == sheriff
            assert hikari.OAuth2Scope.GUILDS_MEMBERS_READ in authorization.scopes
        status, member = await bearer_get(
            http, info, f"/users/@me/guilds/{guild.id}/member", token.access_token
        )
        assert status == 200
        assert member["user"]["id"] == str(sheriff)
        assert member["roles"] == [str(r) for r in guild.members[sheriff].role_ids]
        assert (await bearer_get(http, info, "/users/@me/guilds/1/member", token.access_token))[
            0
        ] == 404
        async with app.acquire(None) as anonymous:
            await anonymous.revoke_access_token(
                info.oauth_client_id, info.oauth_client_secret, token.access_token
            )
    finally:
        await app.close()
    assert (await bearer_get(http, info, "/users/@me", token.access_token))[0] == 401
    status, error = await exchange(
        http, info, {"grant_type": "refresh_token", "refresh_token": token.refresh_token}
    )
    assert (status, error["error"]) == (400, "invalid_grant")  # the pair is gone
