"""Dashboard and API helpers for the HTTP tests: settings for the app, and a login through the
sandbox's OAuth2, following every redirect by hand: `/auth/login` -> the sandbox's consent page
(posted with aiohttp, as a browser would) -> `/auth/callback` on the app's test client."""

from __future__ import annotations

import dataclasses
import html
import re
import typing

import yarl

from tests.support.world import user_named
from townsquare.core.commands_api import service_token
from townsquare.core.processes import free_port
from townsquare.core.settings import load_settings
from townsquare.http.state import state_of

if typing.TYPE_CHECKING:
    from pathlib import Path

    import aiohttp
    from quart import Quart, Response
    from quart.testing import QuartClient

    from townsquare.core.discord import DiscordTarget
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.sandbox import Sandbox

__all__ = [
    "HTML",
    "SIGNING_KEY",
    "consent",
    "cookie",
    "csrf_token",
    "cut_off_discord",
    "error_code",
    "follow",
    "form_values",
    "guild_config",
    "log_in",
    "make_settings",
    "page_text",
    "service_bearer",
    "set_cookie",
    "start_login",
]

SIGNING_KEY = "test-signing-key-that-is-long-enough-0123456789"


def make_settings(var_dir: Path, keyspace: Keyspace, **env: str) -> Settings:
    environ = {
        "TOWNSQUARE__PATHS__VAR_DIR": str(var_dir),
        "TOWNSQUARE__REDIS__NAMESPACE": keyspace.namespace,
        "TOWNSQUARE__HTTP__JWT_SIGNING_KEY": SIGNING_KEY,
    } | env
    return load_settings(environ=environ, env_file=None)


def cut_off_discord(app: Quart) -> DiscordTarget:
    """Point the app's Discord REST at a loopback port nothing listens on: every call to
    Discord fails to connect from now on. Returns the working target, to put back."""
    app_state = state_of(app)
    working = app_state.discord
    assert working is not None
    dead = f"http://127.0.0.1:{free_port()}/api/v10"
    app_state.discord = dataclasses.replace(working, rest_url=dead)
    return working


async def guild_config(client: QuartClient, guild_id: int) -> dict[str, typing.Any]:
    """`GET /api/v1/guilds/<id>/config` (must answer 200): `{"version", "config", ...}`."""
    response = await client.get(f"/api/v1/guilds/{guild_id}/config")
    assert response.status_code == 200, await response.get_data(as_text=True)
    return typing.cast("dict[str, typing.Any]", await response.get_json())


def service_bearer(settings: Settings) -> dict[str, str]:
    """The headers of a shard calling `/internal/v1` with the service token of `settings`."""
    return {"Authorization": f"Bearer {service_token(settings)}"}


async def follow(client: QuartClient, url: yarl.URL) -> Response:
    """GET `url`'s path and query on the app's test client (a redirect back to the app)."""
    return await client.get(url.path, query_string=dict(url.query))


async def error_code(response: Response) -> str:
    """The `error.code` of an API error answer."""
    return str((await response.get_json())["error"]["code"])


async def start_login(client: QuartClient, next_path: str | None = None) -> yarl.URL:
    """GET /auth/login; the Discord authorize URL it redirects to."""
    query = {"next": next_path} if next_path else None
    response = await client.get("/auth/login", query_string=query)
    assert response.status_code == 302, await response.get_data(as_text=True)
    return yarl.URL(response.headers["Location"])


async def consent(browser: aiohttp.ClientSession, authorize: yarl.URL, user_id: int) -> yarl.URL:
    """Pick `user_id` on the sandbox's consent page; the callback URL Discord sends back."""
    async with browser.get(authorize) as page:
        assert page.status == 200, await page.text()
        assert f'value="{user_id}"' in await page.text()
    form = dict(authorize.query) | {"user_id": str(user_id)}
    async with browser.post(
        authorize.with_query(None), data=form, allow_redirects=False
    ) as response:
        assert response.status == 302, await response.text()
        return yarl.URL(response.headers["Location"])


async def log_in(
    client: QuartClient,
    browser: aiohttp.ClientSession,
    sandbox: Sandbox,
    username: str,
    next_path: str | None = None,
) -> str:
    """The whole login as `username`; returns where the app sends the user afterwards."""
    authorize = await start_login(client, next_path)
    callback = await consent(browser, authorize, user_named(sandbox, username))
    response = await follow(client, callback)
    assert response.status_code == 302, await response.get_data(as_text=True)
    return response.headers["Location"]


def cookie(client: QuartClient, name: str) -> str | None:
    assert client.cookie_jar is not None
    return next((c.value for c in client.cookie_jar if c.name == name), None)


def set_cookie(client: QuartClient, name: str, value: str, path: str = "/") -> None:
    client.set_cookie("localhost", name, value, path=path)


async def csrf_token(client: QuartClient) -> str:
    response = await client.get("/api/v1/me")
    assert response.status_code == 200, await response.get_data(as_text=True)
    return str((await response.get_json())["csrf_token"])


HTML: typing.Final = {"Accept": "text/html"}
"""Headers of a browser asking for a page."""


def form_values(page: str) -> dict[str, str]:
    """What a browser would submit from the page's config form, unchanged."""
    form = page.split('<form method="post" action="/dashboard/guilds/', 1)[1].split(
        "</form>", maxsplit=1
    )[0]
    values: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        if name is None:
            continue
        if 'type="checkbox"' in tag:
            if " checked" in tag:
                values[name.group(1)] = "on"
            continue
        value = re.search(r'value="([^"]*)"', tag)
        values[name.group(1)] = html.unescape(value.group(1)) if value else ""
    for name, options in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        selected = re.search(r'<option value="([^"]+)" selected>', options)
        values[name] = selected.group(1) if selected else ""
    for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        values[name] = html.unescape(text)
    return values


async def page_text(client: QuartClient, url: str) -> str:
    """The page at `url` as HTML (must answer 200)."""
    response = await client.get(url, headers=HTML)
    assert response.status_code == 200, await response.get_data(as_text=True)
    return await response.get_data(as_text=True)
