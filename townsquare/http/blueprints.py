"""Blueprints that come with their area's authorization: what a feature's `web.py` builds on.

- :func:`dashboard_blueprint`: server-rendered pages under `/dashboard`; a dashboard session
  (a GET without one is sent to the login), the right to manage the route's `guild_id`, and
  the session's CSRF token (form field `csrf_token`) on every write.
- :func:`api_blueprint`: JSON under `/api/v1`; a session (401), the right to manage the
  route's `guild_id` (403), and the CSRF token in `X-CSRF-Token` on every write; a 503
  `discord_unavailable` carries `Retry-After`. Its routes say which of :data:`API_READ` and
  :data:`API_WRITE` they need, for the OpenAPI description (:data:`API_SECURITY_SCHEMES`).
- :func:`internal_blueprint`: `/internal/v1`, what the shards' commands ask for (flow 2);
  the service token as `Authorization: Bearer ...`, compared in constant time (401); a write
  with an `Idempotency-Key` is run once and its answer replayed to a retry
  (:mod:`townsquare.http.idempotency`).

The check runs before anything else of the request, so a feature's handler only ever sees an
authorized request, and no feature repeats these checks.
"""

from __future__ import annotations

import hmac
import typing

from quart import Blueprint, Response, current_app, g, jsonify, redirect, request, url_for
from quart_schema import APIKeySecurityScheme, security_scheme

from townsquare.core.commands_api import PREFIX, service_token
from townsquare.http.access import check_manager, current_session, optional_session, require_manager
from townsquare.http.config_changes import DiscordUnavailableError
from townsquare.http.errors import APIError
from townsquare.http.idempotency import answer_again_or_claim, store_answer
from townsquare.http.sessions import ACCESS_COOKIE
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from quart_schema.extension import SecuritySchemeInput
    from werkzeug.wrappers.response import Response as BaseResponse

    from townsquare.http.access import Session

__all__ = [
    "API_READ",
    "API_SECURITY_SCHEMES",
    "API_WRITE",
    "DASHBOARD_PREFIX",
    "SAFE_METHODS",
    "api_blueprint",
    "dashboard_blueprint",
    "internal_blueprint",
]

DASHBOARD_PREFIX: typing.Final = "/dashboard"
API_PREFIX: typing.Final = "/api/v1"
SAFE_METHODS: typing.Final = frozenset({"GET", "HEAD", "OPTIONS"})
API_SECURITY_SCHEMES: typing.Final[dict[str, SecuritySchemeInput]] = {
    "session": APIKeySecurityScheme(type="apiKey", in_="cookie", name=ACCESS_COOKIE),
    "csrf": APIKeySecurityScheme(type="apiKey", in_="header", name="X-CSRF-Token"),
}
"""The dashboard session's cookie (from logging in at `/auth/login`), and for writes the CSRF
token of `GET /api/v1/me` in `X-CSRF-Token`."""
API_READ: typing.Final = security_scheme([{"session": []}])
API_WRITE: typing.Final = security_scheme([{"session": [], "csrf": []}])
_EXPECTED_TOKEN: typing.Final = "townsquare.internal"  # noqa: S105 - an extension key


def dashboard_blueprint(
    name: str, import_name: str, *, url_prefix: str = DASHBOARD_PREFIX
) -> Blueprint:
    """A blueprint of dashboard pages (see the module docs).

    Its templates are its feature's `templates/` folder (the app adds it for every feature).
    """
    blueprint = Blueprint(name, import_name, url_prefix=url_prefix)
    blueprint.before_request(_authorize_page)
    return blueprint


def api_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint of `/api/v1` routes (see the module docs)."""
    blueprint = Blueprint(name, import_name, url_prefix=API_PREFIX)
    blueprint.before_request(_authorize_api)
    blueprint.register_error_handler(DiscordUnavailableError, _discord_unavailable)
    return blueprint


def internal_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint of `/internal/v1` routes (see the module docs)."""
    blueprint = Blueprint(name, import_name, url_prefix=PREFIX)
    blueprint.before_request(_authenticate_service)
    blueprint.before_request(answer_again_or_claim)  # after the token: no key of strangers
    blueprint.after_request(store_answer)
    return blueprint


async def _authorize_page() -> BaseResponse | None:
    """Guild pages: the right to manage the guild; writes: the CSRF token."""
    session = await optional_session(renew=True)
    if session is None:
        if request.method == "GET":
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        raise APIError(401, "not_logged_in", "log in with Discord first")
    guild_id = (request.view_args or {}).get("guild_id")
    if guild_id is not None:
        await check_manager(session, int(guild_id))
    g.ts_session = session
    if request.method not in {"GET", "HEAD"}:
        form = await request.form
        state().signer.check_csrf(session.session_id, form.get("csrf_token"))
    return None


async def _authorize_api() -> None:
    """Guild routes: session, then the right to manage the guild, then CSRF on writes."""
    guild_id = (request.view_args or {}).get("guild_id")
    session: Session = (
        await require_manager(int(guild_id)) if guild_id is not None else await current_session()
    )
    g.ts_session = session
    if request.method not in SAFE_METHODS:
        state().signer.check_csrf(session.session_id, request.headers.get("X-CSRF-Token"))


async def _discord_unavailable(error: DiscordUnavailableError) -> Response:
    response = jsonify(error.body())
    response.status_code = error.status
    response.headers["Retry-After"] = str(error.retry_after)
    return response


def _expected_token() -> bytes:
    token = current_app.extensions.get(_EXPECTED_TOKEN)
    if token is None:
        token = service_token(state().settings).encode()
        current_app.extensions[_EXPECTED_TOKEN] = token
    return typing.cast("bytes", token)


async def _authenticate_service() -> None:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    expected = _expected_token()
    # compare_digest on bytes of any length: no early exit that would time the token.
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), expected):
        raise APIError(401, "unauthorized", "a valid service token is required")
