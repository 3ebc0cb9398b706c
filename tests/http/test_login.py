"""Dashboard login through the sandbox's OAuth2, JWT sessions, refresh and logout."""

from __future__ import annotations

import datetime
import json
import stat
import typing

import jwt
import pytest
import yarl

from tests.support.web import (
    SIGNING_KEY,
    consent,
    cookie,
    error_code,
    follow,
    log_in,
    make_settings,
    set_cookie,
    start_login,
)
from tests.support.world import user_named
from townsquare.http.auth import DEFAULT_NEXT, safe_next
from townsquare.http.sessions import ACCESS_COOKIE, REFRESH_COOKIE, SessionSigner

if typing.TYPE_CHECKING:
    from pathlib import Path

    import aiohttp
    from quart import Quart
    from quart.testing import QuartClient

    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox


async def test_login_through_the_sandbox_oauth_sets_a_session(
    client: QuartClient, browser: aiohttp.ClientSession, sandbox: Sandbox, bot_in_demo: int
) -> None:
    authorize = await start_login(client, "/dashboard/guilds/1/xp")
    assert str(authorize.with_query(None)) == sandbox.info.authorize_url
    assert authorize.query["scope"] == "identify guilds"
    assert authorize.query["response_type"] == "code"
    assert authorize.query["client_id"] == str(sandbox.info.oauth_client_id)
    assert authorize.query["redirect_uri"] == "http://127.0.0.1:8080/auth/callback"
    state = authorize.query["state"]
    assert len(state) == 32

    callback = await consent(browser, authorize, user_named(sandbox, "sheriff"))
    assert callback.query["state"] == state
    response = await follow(client, callback)
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard/guilds/1/xp"
    set_cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in set_cookies if c.startswith(f"{ACCESS_COOKIE}="))
    assert "HttpOnly" in session_cookie
    assert "SameSite=Lax" in session_cookie
    assert "Secure" not in session_cookie  # served over http in this test
    refresh_cookie = next(c for c in set_cookies if c.startswith(f"{REFRESH_COOKIE}="))
    assert "Path=/auth" in refresh_cookie

    me = await client.get("/api/v1/me")
    assert me.status_code == 200
    body = await me.get_json()
    assert body["username"].lower() == "sheriff"  # the display name when one is set
    assert body["id"] == str(user_named(sandbox, "sheriff"))

    # The callback cannot be replayed: the state was spent.
    again = await follow(client, callback)
    assert again.status_code == 403
    assert await error_code(again) == "oauth_state_mismatch"


async def test_callback_with_a_foreign_state_is_refused(
    client: QuartClient, browser: aiohttp.ClientSession, sandbox: Sandbox, app: object
) -> None:
    authorize = await start_login(client)
    forged = authorize.update_query(state="0" * 32)
    callback = await consent(browser, forged, user_named(sandbox, "sheriff"))
    response = await follow(client, callback)
    assert response.status_code == 403
    assert cookie(client, ACCESS_COOKIE) is None


async def test_cancelled_login_is_refused(
    client: QuartClient, browser: aiohttp.ClientSession, app: object
) -> None:
    authorize = await start_login(client)
    form = dict(authorize.query) | {"action": "deny"}
    async with browser.post(
        authorize.with_query(None), data=form, allow_redirects=False
    ) as response:
        callback = yarl.URL(response.headers["Location"])
    result = await follow(client, callback)
    assert result.status_code == 403
    assert await error_code(result) == "oauth_denied"


HOSTILE_NEXT: typing.Final = {
    "absolute": "https://evil.example/",
    "scheme-relative": "//evil.example/x",
    "backslash-slash": "/\\evil.example",
    "slash-backslash-path": "/\\/evil.example/",
    "leading-backslash": "\\/evil.example/",
    "backslash-later": "/dashboard\\..\\x",
    "tab-between-slashes": "/\t/evil.example/",  # browsers drop the tab: //evil.example/
    "newline-between-slashes": "/\n/evil.example/",
    "cr-between-slashes": "/\r/evil.example/",
    "leading-space": " //evil.example/",
    "leading-control": "\x01//evil.example/",
    "encoded-slash": "/%2F/evil.example/",
    "encoded-backslash": "/%5Cevil.example/",
    "encoded-tab": "/%09/evil.example/",
    "javascript": "javascript:alert(document.cookie)",
    "javascript-with-slash": "/javascript:alert(1)//\\x",
    "scheme-without-slashes": "https:evil.example",
    "data": "data:text/html,<script>alert(1)</script>",
    "nul": "/dashboard\x00",
    "too-long": "/" + "a" * 5000,
}
"""`next` values that must not survive the login (`/auth/login?next=...`)."""


@pytest.mark.parametrize("hostile", HOSTILE_NEXT.values(), ids=HOSTILE_NEXT.keys())
def test_safe_next_refuses_what_a_browser_reads_as_another_site(hostile: str) -> None:
    assert safe_next(hostile) == DEFAULT_NEXT


@pytest.mark.parametrize(
    ("asked", "sent"),
    [
        ("/dashboard/guilds/1/xp", "/dashboard/guilds/1/xp"),
        ("/dashboard/guilds/1/xp?saved=1", "/dashboard/guilds/1/xp?saved=1"),
        ("/dashboard/x\r\nSet-Cookie: a=b", "/dashboard/xSet-Cookie:%20a=b"),  # as browsers read it
        ("/dashboard/caf\u00e9", "/dashboard/caf%C3%A9"),
        (None, DEFAULT_NEXT),
        ("", DEFAULT_NEXT),
    ],
)
def test_safe_next_keeps_our_paths_and_sends_them_header_safe(asked: str | None, sent: str) -> None:
    assert safe_next(asked) == sent


@pytest.mark.parametrize("hostile", HOSTILE_NEXT.values(), ids=HOSTILE_NEXT.keys())
async def test_next_cannot_leave_the_site(
    client: QuartClient,
    browser: aiohttp.ClientSession,
    sandbox: Sandbox,
    app: object,
    hostile: str,
) -> None:
    """The whole login with a hostile `next`: the callback sends the user to the dashboard."""
    location = await log_in(client, browser, sandbox, "sheriff", hostile)
    assert location == "/dashboard"


async def test_next_with_cr_lf_is_not_a_500_and_injects_no_header(
    client: QuartClient, browser: aiohttp.ClientSession, sandbox: Sandbox, app: object
) -> None:
    authorize = await start_login(client, "/dashboard\r\nSet-Cookie: owned=1")
    callback = await consent(browser, authorize, user_named(sandbox, "sheriff"))
    response = await client.get(callback.path, query_string=dict(callback.query))
    assert response.status_code == 302, await response.get_data(as_text=True)
    assert response.headers["Location"] == "/dashboardSet-Cookie:%20owned=1"
    assert not any("owned" in value for value in response.headers.getlist("Set-Cookie"))


async def test_tampered_expired_or_missing_tokens_give_401(
    client: QuartClient, browser: aiohttp.ClientSession, sandbox: Sandbox, app: object
) -> None:
    assert (await client.get("/api/v1/me")).status_code == 401
    await log_in(client, browser, sandbox, "sheriff")
    token = cookie(client, ACCESS_COOKIE)
    assert token is not None
    header, payload, signature = token.split(".")

    # Another signature.
    set_cookie(client, ACCESS_COOKIE, f"{header}.{payload}.{signature[::-1]}")
    response = await client.get("/api/v1/me")
    assert response.status_code == 401
    assert await error_code(response) == "session_invalid"

    # Claims changed, signed with another key.
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims | {"sub": "1"}, "x" * 48, algorithm="HS256")
    set_cookie(client, ACCESS_COOKIE, forged)
    assert (await client.get("/api/v1/me")).status_code == 401

    # The "none" algorithm.
    unsigned = jwt.encode(claims, None, algorithm="none")
    set_cookie(client, ACCESS_COOKIE, unsigned)
    assert (await client.get("/api/v1/me")).status_code == 401

    # Expired, with the right key.
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=2)
    expired = jwt.encode(
        claims | {"iat": past, "exp": past + datetime.timedelta(minutes=15)},
        SIGNING_KEY,
        algorithm="HS256",
    )
    set_cookie(client, ACCESS_COOKIE, expired)
    response = await client.get("/api/v1/me")
    assert response.status_code == 401
    assert await error_code(response) == "session_expired"

    # A refresh token is not an access token.
    refresh = cookie(client, REFRESH_COOKIE)
    assert refresh is not None
    set_cookie(client, ACCESS_COOKIE, refresh)
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_refresh_renews_an_expired_access_token(app: object, sheriff: QuartClient) -> None:
    token = cookie(sheriff, ACCESS_COOKIE)
    assert token is not None
    claims = jwt.decode(token, options={"verify_signature": False})
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=2)
    expired = jwt.encode(
        claims | {"iat": past, "exp": past + datetime.timedelta(minutes=15)},
        SIGNING_KEY,
        algorithm="HS256",
    )
    set_cookie(sheriff, ACCESS_COOKIE, expired)
    assert (await sheriff.get("/api/v1/me")).status_code == 401
    response = await sheriff.post("/auth/refresh")
    assert response.status_code == 204
    assert (await sheriff.get("/api/v1/me")).status_code == 200


async def test_logout_revokes_the_session(app: object, sheriff: QuartClient) -> None:
    access, refresh = cookie(sheriff, ACCESS_COOKIE), cookie(sheriff, REFRESH_COOKIE)
    assert access is not None
    assert refresh is not None
    me = await (await sheriff.get("/api/v1/me")).get_json()

    no_csrf = await sheriff.post("/auth/logout", form={})
    assert no_csrf.status_code == 403
    response = await sheriff.post("/auth/logout", form={"csrf_token": me["csrf_token"]})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"

    # Put the old cookies back, as a thief who copied them would: both are dead.
    set_cookie(sheriff, ACCESS_COOKIE, access)
    set_cookie(sheriff, REFRESH_COOKIE, refresh, path="/auth")
    response = await sheriff.get("/api/v1/me")
    assert response.status_code == 401
    assert await error_code(response) == "session_revoked"
    assert (await sheriff.post("/auth/refresh")).status_code == 401


def test_sandbox_mode_without_a_key_keeps_a_generated_one(
    tmp_path: Path, keyspace: Keyspace
) -> None:
    settings = make_settings(tmp_path, keyspace, TOWNSQUARE__HTTP__JWT_SIGNING_KEY="")
    settings = settings.model_copy(
        update={"http": settings.http.model_copy(update={"jwt_signing_key": None})}
    )
    first = SessionSigner.from_settings(settings)
    key_file = tmp_path / "dev-jwt.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    second = SessionSigner.from_settings(settings)
    token = first.mint("access", user_id=5, username="x", session_id="a" * 32)
    assert second.verify(token, "access").user_id == 5


def test_settings_require_a_signing_key_with_a_bot_token(
    tmp_path: Path, keyspace: Keyspace
) -> None:
    from townsquare.core.settings import SettingsError, load_settings

    with pytest.raises(SettingsError) as error:
        load_settings(
            environ={
                "TOWNSQUARE__PATHS__VAR_DIR": str(tmp_path),
                "TOWNSQUARE__DISCORD__BOT_TOKEN": "tok",
                "TOWNSQUARE__DISCORD__OAUTH_CLIENT_SECRET": "secret",
                "TOWNSQUARE__HTTP__SERVICE_TOKEN": "service-token",
            },
            env_file=None,
        )
    assert [p.key for p in error.value.problems] == ["http.jwt_signing_key"]


async def _session_record(app: Quart) -> tuple[str, dict[str, typing.Any]]:
    from townsquare.http.state import HTTPState

    app_state: HTTPState = app.extensions["townsquare"]
    redis = app_state.require_redis()
    [key] = [
        k async for k in redis.scan_iter(match=app_state.keyspace.pattern("dashboard_session"))
    ]
    return key.decode(), json.loads(await redis.get(key))


async def _write_record(app: Quart, key: str, record: dict[str, typing.Any]) -> None:
    from townsquare.http.state import HTTPState

    app_state: HTTPState = app.extensions["townsquare"]
    redis = app_state.require_redis()
    await redis.set(key, json.dumps(record))
    async for cached in redis.scan_iter(match=app_state.keyspace.pattern("session_guilds")):
        await redis.delete(cached)


async def test_the_users_discord_token_is_refreshed_when_it_expired(
    app: Quart, sheriff: QuartClient, bot_in_demo: int
) -> None:
    key, record = await _session_record(app)
    await _write_record(app, key, record | {"expires_at": 0})
    response = await sheriff.get("/api/v1/guilds")
    assert response.status_code == 200
    assert [g["id"] for g in (await response.get_json())["guilds"]] == [str(bot_in_demo)]
    _, refreshed = await _session_record(app)
    assert refreshed["access_token"] != record["access_token"]
    assert refreshed["refresh_token"] != record["refresh_token"]
    assert refreshed["expires_at"] > record["expires_at"]


async def test_a_grant_discord_no_longer_honours_ends_the_session(
    app: Quart, sheriff: QuartClient, bot_in_demo: int
) -> None:
    key, record = await _session_record(app)
    await _write_record(app, key, record | {"access_token": "revoked-at-discord"})
    response = await sheriff.get(f"/api/v1/guilds/{bot_in_demo}/config")
    assert response.status_code == 401
    assert await error_code(response) == "session_revoked"
    assert (await sheriff.get("/api/v1/me")).status_code == 401


async def test_login_without_a_running_sandbox_is_a_clear_503(
    tmp_path: Path, keyspace: Keyspace, redis_url: str, database_url: str
) -> None:
    from townsquare.http import create_app

    settings = make_settings(tmp_path, keyspace)  # no sandbox.json in this var_dir
    app = create_app(settings, redis_url, database_url, keyspace, discord=None)
    async with app.test_app():
        response = await app.test_client().get("/auth/login")
    assert response.status_code == 503
    assert await error_code(response) == "sandbox_unavailable"


def test_real_discord_endpoints_come_from_the_settings(tmp_path: Path, keyspace: Keyspace) -> None:
    from townsquare.http.oauth import oauth_endpoints

    settings = make_settings(
        tmp_path,
        keyspace,
        TOWNSQUARE__DISCORD__BOT_TOKEN="tok",
        TOWNSQUARE__DISCORD__OAUTH_CLIENT_SECRET="shh-secret",
        TOWNSQUARE__DISCORD__OAUTH_CLIENT_ID="123",
        TOWNSQUARE__HTTP__PUBLIC_URL="https://dash.example",
        TOWNSQUARE__HTTP__SERVICE_TOKEN="service-token",
    )
    endpoints = oauth_endpoints(settings, None)
    assert endpoints.authorize_url == "https://discord.com/oauth2/authorize"
    assert endpoints.token_url == "https://discord.com/api/v10/oauth2/token"
    assert endpoints.api_url == "https://discord.com/api/v10"
    assert (endpoints.client_id, endpoints.client_secret) == ("123", "shh-secret")
    assert endpoints.redirect_uri == "https://dash.example/auth/callback"
    assert "shh-secret" not in repr(endpoints)
    url = yarl.URL(endpoints.authorize_redirect("s" * 32))
    assert url.query["scope"] == "identify guilds"
    assert SessionSigner.from_settings(settings).secure_cookies


async def test_a_non_ascii_state_is_a_403_not_a_500(
    client: QuartClient, browser: aiohttp.ClientSession, sandbox: Sandbox, app: object
) -> None:
    authorize = await start_login(client)
    callback = await consent(browser, authorize, user_named(sandbox, "sheriff"))
    query = dict(callback.query) | {"state": "caf\u00e9"}
    response = await client.get(callback.path, query_string=query)
    assert response.status_code == 403, await response.get_data(as_text=True)
    assert (await response.get_json())["error"]["code"] == "oauth_state_mismatch"
