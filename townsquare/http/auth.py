"""`/auth`: log in with Discord (OAuth2 authorization code), renew the session, log out.

Login CSRF: `/auth/login` makes a random `state`, stores it in Redis (spent once, ten minutes)
and in an HttpOnly cookie; the callback accepts only a `state` that matches both.

Where the user goes after the login (`next`) is a path on this site, checked as a browser would
read it (:func:`safe_next`), so the login cannot be used to send people elsewhere.
"""

from __future__ import annotations

import datetime
import secrets
import typing
from urllib.parse import quote, unquote

import structlog
from pydantic import BaseModel
from quart import Blueprint, Response, redirect, request
from quart_schema import document_querystring

from townsquare.http.access import current_session, discord_tokens_from
from townsquare.http.errors import APIError
from townsquare.http.oauth import oauth_endpoints
from townsquare.http.openapi import errors, non_json_response
from townsquare.http.sessions import (
    REFRESH_COOKIE,
    REFRESH_PATH,
    new_session_id,
    revoke_session,
    save_discord_tokens,
)
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from werkzeug.wrappers.response import Response as BaseResponse

__all__ = ["DEFAULT_NEXT", "MAX_NEXT_LENGTH", "blueprint", "safe_next"]

blueprint = Blueprint("auth", __name__, url_prefix="/auth")
log = structlog.get_logger(__name__)

STATE_COOKIE: typing.Final = "ts_oauth_state"
DEFAULT_NEXT: typing.Final = "/dashboard"
"""Where a login ends when `next` is missing or not a path on this site."""
MAX_NEXT_LENGTH: typing.Final = 2048
"""A longer `next` is not one of our pages (it is kept in Redis until the callback)."""

_DROPPED_BY_BROWSERS: typing.Final = str.maketrans("", "", "\t\n\r")
"""What the URL standard removes from anywhere in a URL before parsing it."""
_TRIMMED_BY_BROWSERS: typing.Final = "".join(map(chr, range(0x21)))
"""What it strips from both ends: C0 controls and space."""
_KEPT_IN_LOCATION: typing.Final = "!#$%&'()*+,/:;=?@[]~"
"""Characters left as they are in the `Location` we send; others are percent-encoded."""


def safe_next(value: str | None) -> str:
    r"""`value` when it is a path on this site as a browser reads it, else :data:`DEFAULT_NEXT`.

    Browsers drop tabs and newlines anywhere in a URL, trim controls and spaces at its ends,
    read `\` as `/`, and take a URL starting with two slashes as another host's
    (`/<TAB>/evil.example` is `//evil.example`). So `value` is first normalised the same way,
    then accepted only when it starts with one `/` followed by anything but `/` or `\`, has
    no backslash and no control character at all, and the same holds once percent-decoded
    (`/%2F/evil.example`, `/%09/...`: no page of ours has such a path, and a proxy or a
    framework that decodes once would see the hostile form). Schemes (`javascript:`,
    `https://...`) do not start with `/`. The result carries no CR/LF (no header injection)
    and is ASCII: anything else is percent-encoded.
    """
    if not value or len(value) > MAX_NEXT_LENGTH:
        return DEFAULT_NEXT
    path = value.translate(_DROPPED_BY_BROWSERS).strip(_TRIMMED_BY_BROWSERS)
    if not (_is_local_path(path) and _is_local_path(unquote(path))):
        return DEFAULT_NEXT
    return quote(path, safe=_KEPT_IN_LOCATION)


def _is_local_path(path: str) -> bool:
    return (
        path.startswith("/")
        and not path.startswith("//")
        and "\\" not in path
        and not any(ord(char) < 0x20 or ord(char) == 0x7F for char in path)
    )


class LoginQuery(BaseModel):
    next: str | None = None
    """Where to go after logging in: a path on this site (anything else: the dashboard)."""


class CallbackQuery(BaseModel):
    state: str | None = None
    code: str | None = None
    error: str | None = None


@blueprint.get("/login")
@document_querystring(LoginQuery)
@non_json_response(302, "to Discord's consent page", headers=("Location",))
async def login() -> BaseResponse:
    """Start a Discord login: redirect to the OAuth2 consent page with a fresh `state`."""
    app_state = state()
    endpoints = oauth_endpoints(app_state.settings, app_state.discord)
    login_state = secrets.token_hex(16)
    redis = app_state.require_redis()
    await redis.set(
        app_state.keyspace.key("oauth_state", login_state),
        safe_next(request.args.get("next")),
        ex=app_state.keyspace.ttl("oauth_state"),
    )
    response = redirect(endpoints.authorize_redirect(login_state))
    response.set_cookie(
        STATE_COOKIE,
        login_state,
        max_age=600,
        path=REFRESH_PATH,
        secure=app_state.signer.secure_cookies,
        httponly=True,
        samesite="Lax",
    )
    return response


@blueprint.get("/callback")
@document_querystring(CallbackQuery)
@non_json_response(302, "signed in: to the `next` path of the login", headers=("Location",))
@errors(400, 401, 403, 502)
async def callback() -> BaseResponse:
    """Discord sends the user back here: check `state`, exchange the code, start a session."""
    app_state = state()
    redis = app_state.require_redis()
    presented = request.args.get("state", "")
    cookie = request.cookies.get(STATE_COOKIE, "")
    # As bytes: compare_digest raises TypeError on text that is not ASCII (a 500).
    if (
        not presented
        or not cookie
        or not secrets.compare_digest(presented.encode(), cookie.encode())
    ):
        raise APIError(403, "oauth_state_mismatch", "the login did not start here; try again")
    try:
        key = app_state.keyspace.key("oauth_state", presented)
    except ValueError:
        raise APIError(403, "oauth_state_mismatch", "the login state is malformed") from None
    next_path = await redis.getdel(key)
    if next_path is None:
        raise APIError(403, "oauth_state_mismatch", "the login expired or was used; try again")
    if "error" in request.args:
        raise APIError(403, "oauth_denied", "the login was cancelled at Discord")
    code = request.args.get("code")
    if not code:
        raise APIError(400, "oauth_missing_code", "Discord sent no authorization code")

    endpoints = oauth_endpoints(app_state.settings, app_state.discord)
    client = app_state.require_client()
    body = await endpoints.exchange_code(client, code)
    user = await endpoints.get_user_json(client, "/users/@me", str(body["access_token"]))
    if not isinstance(user, dict) or "id" not in user:
        raise APIError(401, "oauth_refused", "Discord did not say who you are")
    tokens = discord_tokens_from(body, user)
    session_id = new_session_id()
    signer = app_state.signer
    await save_discord_tokens(
        redis, app_state.keyspace, session_id, tokens, signer.refresh_lifetime
    )
    response = redirect(
        safe_next(next_path.decode() if isinstance(next_path, bytes) else next_path)
    )
    for kind in ("access", "refresh"):
        token = signer.mint(
            kind, user_id=tokens.user_id, username=tokens.username, session_id=session_id
        )
        signer.set_cookie(response, kind, token)
    response.delete_cookie(STATE_COOKIE, path=REFRESH_PATH)
    log.info("dashboard_login", user_id=tokens.user_id)
    return response


@blueprint.post("/refresh")
@non_json_response(204, "a new access cookie is set (no body)")
@errors(401)
async def refresh() -> Response:
    """A new access token from the refresh cookie (for API clients; pages renew by themselves)."""
    app_state = state()
    token = request.cookies.get(REFRESH_COOKIE)
    if not token:
        raise APIError(401, "not_logged_in", "log in with Discord first")
    claims = app_state.signer.verify(token, "refresh")
    session = await current_session(renew=True)
    if session.session_id != claims.session_id:
        raise APIError(401, "session_invalid", "the session token is not valid")
    response = Response(status=204)
    access = app_state.signer.mint(
        "access", user_id=claims.user_id, username=claims.username, session_id=claims.session_id
    )
    app_state.signer.set_cookie(response, "access", access)
    return response


@blueprint.post("/logout")
@non_json_response(303, "logged out: to the home page", headers=("Location",))
@errors(401, 403)
async def logout() -> BaseResponse:
    """Revoke the session (needs the CSRF token) and clear its cookies."""
    app_state = state()
    session = await current_session(renew=True)
    form = await request.form
    presented = form.get("csrf_token") or request.headers.get("X-CSRF-Token")
    app_state.signer.check_csrf(session.session_id, presented)
    until = datetime.datetime.now(datetime.UTC) + app_state.signer.refresh_lifetime
    await revoke_session(app_state.require_redis(), app_state.keyspace, session.session_id, until)
    response = redirect("/", 303)
    app_state.signer.clear_cookies(response)
    log.info("dashboard_logout", user_id=session.user_id)
    return response
