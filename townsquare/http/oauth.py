"""Discord's OAuth2 authorization-code flow, and the two user endpoints the dashboard reads.

The endpoints come from the settings: on real Discord `discord.oauth_authorize_url`,
`discord.oauth_token_url` and `discord.rest_url`; against the sandbox they are derived from the
sandbox's REST base (`http://127.0.0.1:PORT/api/v10` gives `http://127.0.0.1:PORT/oauth2/authorize`
and `.../api/v10/oauth2/token`), and its client id and secret come from `<var_dir>/sandbox.json`.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
import typing
import urllib.parse

import aiohttp

from townsquare.core.discord import (
    DiscordTargetError,
    resolve_discord_target,
    sandbox_info_path,
)
from townsquare.http.errors import APIError

if typing.TYPE_CHECKING:
    from townsquare.core.discord import DiscordTarget
    from townsquare.core.settings import Settings

__all__ = ["SCOPES", "OAuthEndpoints", "oauth_endpoints"]

SCOPES: typing.Final = "identify guilds"
API_SUFFIX: typing.Final = "/api/v10"
TIMEOUT: typing.Final = aiohttp.ClientTimeout(total=10)


@dataclasses.dataclass(frozen=True, slots=True)
class OAuthEndpoints:
    authorize_url: str
    token_url: str
    api_url: str
    """REST base including the version (user endpoints are below it)."""
    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    redirect_uri: str

    def authorize_redirect(self, state: str) -> str:
        query = urllib.parse.urlencode(
            {
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "response_type": "code",
                "scope": SCOPES,
                "state": state,
            }
        )
        return f"{self.authorize_url}?{query}"

    async def exchange_code(
        self, client: aiohttp.ClientSession, code: str
    ) -> dict[str, typing.Any]:
        return await self._token(
            client,
            {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri},
        )

    async def refresh(
        self, client: aiohttp.ClientSession, refresh_token: str
    ) -> dict[str, typing.Any]:
        return await self._token(
            client, {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )

    async def _token(
        self, client: aiohttp.ClientSession, form: dict[str, str]
    ) -> dict[str, typing.Any]:
        credentials = ":".join((self.client_id, self.client_secret)).encode()  # keyspace: not a key
        headers = {"Authorization": "Basic " + base64.b64encode(credentials).decode()}
        try:
            async with client.post(
                self.token_url, data=form, headers=headers, timeout=TIMEOUT
            ) as reply:
                body = await reply.json(content_type=None)
                status = reply.status
        except (aiohttp.ClientError, TimeoutError, ValueError):
            raise APIError(502, "discord_unreachable", "Discord's OAuth2 did not answer") from None
        if status != 200 or not isinstance(body, dict) or "access_token" not in body:
            raise APIError(401, "oauth_refused", "Discord refused the login; try again")
        return body

    async def get_user_json(
        self, client: aiohttp.ClientSession, path: str, access_token: str
    ) -> typing.Any:
        """GET `path` under the REST base with the user's bearer token; None when refused."""
        headers = {"Authorization": f"Bearer {access_token}"}
        try:
            async with client.get(self.api_url + path, headers=headers, timeout=TIMEOUT) as reply:
                if reply.status == 401:
                    return None
                if reply.status != 200:
                    raise APIError(502, "discord_error", f"Discord answered {reply.status}")
                return await reply.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            raise APIError(502, "discord_unreachable", "Discord did not answer") from None


def expires_at(token_body: dict[str, typing.Any]) -> float:
    """Unix time a token answer's access token expires (a minute early, to be safe)."""
    return time.time() + max(int(token_body.get("expires_in", 0)) - 60, 0)


def oauth_endpoints(settings: Settings, discord: DiscordTarget | None) -> OAuthEndpoints:
    """Where to send a login, for this deployment (see the module docs)."""
    redirect_uri = settings.http.public_url.rstrip("/") + "/auth/callback"
    if not settings.uses_sandbox:
        secret = settings.discord.oauth_client_secret
        assert secret is not None  # the settings require it with a bot token
        return OAuthEndpoints(
            authorize_url=settings.discord.oauth_authorize_url,
            token_url=settings.discord.oauth_token_url,
            api_url=settings.discord.rest_url.rstrip("/"),
            client_id=settings.discord.oauth_client_id,
            client_secret=secret.get_secret_value(),
            redirect_uri=redirect_uri,
        )
    try:
        target = discord or resolve_discord_target(settings)
    except DiscordTargetError:
        raise APIError(503, "sandbox_unavailable", "the sandbox is not running") from None
    rest = target.rest_url.rstrip("/")
    base = rest.removesuffix(API_SUFFIX)
    try:
        info = json.loads(sandbox_info_path(settings).read_text(encoding="utf-8"))
        client_id, client_secret = str(info["oauth_client_id"]), str(info["oauth_client_secret"])
    except (OSError, ValueError, KeyError, TypeError):
        raise APIError(
            503, "sandbox_unavailable", "the sandbox has not published its OAuth2 client"
        ) from None
    return OAuthEndpoints(
        authorize_url=base + "/oauth2/authorize",
        token_url=rest + "/oauth2/token",
        api_url=rest,
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=redirect_uri,
    )
