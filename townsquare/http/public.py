"""`/public/v1`: routes read with an API key instead of a dashboard session.

A feature's public routes come from :func:`public_blueprint`. Before the handler runs, the
blueprint asks the enabled *public gate* (the `PUBLIC_GATE` of a feature's `web` module, the
API keys feature's today) to admit the request: it checks the key, counts the request against
the key's rate limit and may hand back a cached answer body. The gate refuses with an
:class:`~townsquare.http.errors.APIError` (401 `api_key_invalid`, 403 `guild_forbidden`) or a
:class:`RateLimitedError` (429 with `Retry-After`); every 401 carries `WWW-Authenticate`.

The path variable is `guild`: these routes are authorised by API key, not by a dashboard
session, so they stay out of the session authorization matrix that walks `guild_id` routes.
"""

from __future__ import annotations

import json
import typing

from quart import Blueprint, Response, g, request
from quart_schema import HttpSecurityScheme, security_scheme_blueprint, tag_blueprint

from townsquare.http.errors import APIError
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from quart.wrappers import Request
    from quart_schema.extension import SecuritySchemeInput

__all__ = [
    "PREFIX",
    "SECURITY_SCHEMES",
    "Admitted",
    "PublicGate",
    "RateLimitedError",
    "admitted",
    "public_blueprint",
]

PREFIX: typing.Final = "/public/v1"
SECURITY_SCHEMES: typing.Final[dict[str, SecuritySchemeInput]] = {
    "apiKey": HttpSecurityScheme(type="http", scheme="bearer")
}
"""For QuartSchema(security_schemes=...): the bearer API key the public routes name."""
_JSON: typing.Final = "application/json"


class Admitted(typing.Protocol):
    """What a gate's admission tells the handler."""

    @property
    def cached(self) -> bytes | None:
        """The cached answer body, when the request named one and it was there."""


type PublicGate = Callable[[Request, str | None], Awaitable[Admitted]]
"""`(request, cached answer key or None) -> admission`; refuses by raising (see module docs)."""


class RateLimitedError(APIError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(429, "rate_limited", f"too many requests; retry in {retry_after} s")
        self.retry_after = retry_after


def public_blueprint(
    name: str,
    import_name: str,
    *,
    cached_key: Callable[[Request], str | None] | None = None,
    tags: tuple[str, ...] = ("public",),
) -> Blueprint:
    """A blueprint of `/public/v1` routes, admitted by the public gate before each request.

    `cached_key(request)`: the key of a cached answer the gate may fetch in the same round
    trip (None: nothing cached for this request).
    """
    blueprint = Blueprint(name, import_name, url_prefix=PREFIX)
    security_scheme_blueprint(blueprint, [{"apiKey": []}])
    tag_blueprint(blueprint, list(tags))

    @blueprint.before_request
    async def _admit() -> None:
        request_ = request._get_current_object()  # one context lookup, not one per attribute
        gate = state().public_gate
        if gate is None:
            raise APIError(401, "api_key_invalid", "this service has no API keys enabled")
        key = cached_key(request_) if cached_key is not None else None
        g.ts_admission = await gate(request_, key)

    blueprint.register_error_handler(APIError, _error)
    return blueprint


def admitted() -> Admitted:
    """The current request's admission (set before the handler runs)."""
    return typing.cast("Admitted", g.ts_admission)


async def _error(error: APIError) -> Response:
    response = Response(json.dumps(error.body()), status=error.status, content_type=_JSON)
    if error.status == 401:  # every 401 of these routes is an APIError handled here
        response.headers["WWW-Authenticate"] = 'Bearer realm="townsquare"'
    if isinstance(error, RateLimitedError):
        response.headers["Retry-After"] = str(error.retry_after)
    return response
