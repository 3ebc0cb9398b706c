"""The OAuth2 REST routes: the token endpoint, revocation, and the current authorization.

`POST /oauth2/token` exchanges a code, or refreshes, for a bearer token; `POST
/oauth2/token/revoke` ends a token pair. Both are form-encoded, as on Discord, and the client
authenticates with HTTP Basic (`client_id:client_secret`) or with `client_id` and
`client_secret` in the form. `GET /oauth2/@me` describes a bearer token's authorization.
"""

from __future__ import annotations

import base64
import binascii
import typing

from aiohttp import web

from townsquare.sandbox.oauth import OAuthError
from townsquare.sandbox.rest.common import PRINCIPAL
from townsquare.sandbox.rest.errors import DiscordError, ErrorCode, json_response
from townsquare.sandbox.world import payloads

if typing.TYPE_CHECKING:
    from townsquare.sandbox.oauth import AccessToken, OAuthStore
    from townsquare.sandbox.world import World

__all__ = ["REVOKE_ROUTE", "TOKEN_ROUTE", "routes"]

TOKEN_ROUTE: typing.Final[str] = "/api/v10/oauth2/token"  # noqa: S105 - a path
REVOKE_ROUTE: typing.Final[str] = TOKEN_ROUTE + "/revoke"
_FORM_TYPES: typing.Final = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def routes(world: World, store: OAuthStore) -> list[web.RouteDef]:
    async def token(request: web.Request) -> web.Response:
        try:
            form = await _form(request)
            client_id, client_secret = _client_credentials(request, form)
            store.check_client(client_id, client_secret)
            granted = _grant(store, form)
        except OAuthError as error:
            return json_response(error.body(), error.status)
        return json_response(granted.response(store.clock()))

    async def revoke(request: web.Request) -> web.Response:
        """`token` (access or refresh; `token_type_hint` is accepted and not needed): the pair
        stops working. An unknown token is not an error (RFC 7009)."""
        try:
            form = await _form(request)
            store.check_client(*_client_credentials(request, form))
            store.revoke(_required(form, "token"))
        except OAuthError as error:
            return json_response(error.body(), error.status)
        return json_response({})

    async def my_authorization(request: web.Request) -> web.Response:
        principal = request[PRINCIPAL]
        granted = None if principal.access_token is None else store.bearer(principal.access_token)
        if granted is None:  # a bot token: this route describes user authorizations only
            raise DiscordError(401, ErrorCode.GENERAL, "401: Unauthorized")
        body: dict[str, typing.Any] = {
            "application": payloads.public_application_payload(world.application),
            "scopes": list(granted.scopes),
            "expires": payloads.iso(granted.expires_at),
        }
        if "identify" in granted.scopes:
            body["user"] = payloads.user_payload(world.users[granted.user_id])
        return json_response(body)

    return [
        web.post(TOKEN_ROUTE, token),
        web.post(REVOKE_ROUTE, revoke),
        web.get("/api/v10/oauth2/@me", my_authorization),
    ]


def _grant(store: OAuthStore, form: dict[str, str]) -> AccessToken:
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        return store.exchange_code(_required(form, "code"), form.get("redirect_uri"))
    if grant_type == "refresh_token":
        return store.refresh(_required(form, "refresh_token"))
    if grant_type is None:
        raise OAuthError(400, "invalid_request", 'Missing "grant_type" in request.')
    raise OAuthError(400, "unsupported_grant_type")


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_type not in _FORM_TYPES:
        raise OAuthError(400, "invalid_request", "The body must be form-encoded.")
    return {key: str(value) for key, value in (await request.post()).items()}


def _client_credentials(
    request: web.Request, form: dict[str, str]
) -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            decoded = base64.b64decode(header.removeprefix("Basic "), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError(401, "invalid_client") from None
        client_id, _, client_secret = decoded.partition(":")
        return client_id, client_secret
    return form.get("client_id"), form.get("client_secret")


def _required(form: dict[str, str], field: str) -> str:
    value = form.get(field)
    if not value:
        raise OAuthError(400, "invalid_request", f'Missing "{field}" in request.')
    return value
