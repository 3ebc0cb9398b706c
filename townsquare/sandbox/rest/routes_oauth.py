"""`POST /api/v10/oauth2/token`: exchange a code, or refresh, for a bearer token.

Form-encoded, as on Discord. The client authenticates with HTTP Basic
(`client_id:client_secret`) or with `client_id` and `client_secret` in the form.
"""

from __future__ import annotations

import base64
import binascii
import typing

from aiohttp import web

from townsquare.sandbox.oauth import OAuthError
from townsquare.sandbox.rest.errors import json_response

if typing.TYPE_CHECKING:
    from townsquare.sandbox.oauth import AccessToken, OAuthStore

__all__ = ["TOKEN_ROUTE", "routes"]

TOKEN_ROUTE: typing.Final[str] = "/api/v10/oauth2/token"  # noqa: S105 - a path
_FORM_TYPES: typing.Final = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def routes(store: OAuthStore) -> list[web.RouteDef]:
    async def token(request: web.Request) -> web.Response:
        try:
            form = await _form(request)
            client_id, client_secret = _client_credentials(request, form)
            store.check_client(client_id, client_secret)
            granted = _grant(store, form)
        except OAuthError as error:
            return json_response(error.body(), error.status)
        return json_response(granted.response(store.clock()))

    return [web.post(TOKEN_ROUTE, token)]


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
