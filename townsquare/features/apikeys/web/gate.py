"""The public API's gate (`PUBLIC_GATE`): admits a `/public/v1` request by its API key.

One Redis call (:func:`townsquare.features.apikeys.domain.gate.admit`) checks the key, counts
the request against the key's rate limit and, when the route named one, fetches a cached answer:

- no key, a malformed, unknown or revoked key: 401 `api_key_invalid`;
- a key of another guild: 403 `guild_forbidden`;
- past the key's limit: 429 `rate_limited` with `Retry-After` (seconds to the window's end).

A key not yet in Redis is loaded from PostgreSQL once and asked again.
"""

from __future__ import annotations

import typing

from quart import current_app

from townsquare.features.apikeys.domain.gate import Admission, Outcome, RateLimit, admit
from townsquare.features.apikeys.domain.service import hash_token, load_cache_entry, parse_token
from townsquare.http.errors import APIError
from townsquare.http.public import RateLimitedError
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from quart.wrappers import Request

__all__ = ["DEFAULT_RATE_LIMIT", "RATE_LIMIT_CONFIG", "admit_request"]

RATE_LIMIT_CONFIG: typing.Final = "TOWNSQUARE_PUBLIC_RATE_LIMIT"
"""`app.config` entry that overrides the settings' per-key :class:`RateLimit` (tests set it)."""
DEFAULT_RATE_LIMIT: typing.Final = RateLimit(requests=60, window_seconds=60)
"""Used only when an app runs without settings' `http.public_rate_*` (never in production)."""


def _rate_limit() -> RateLimit:
    override = current_app.config.get(RATE_LIMIT_CONFIG)
    if override is not None:
        return typing.cast("RateLimit", override)
    http = state().settings.http
    return RateLimit(
        requests=http.public_rate_requests, window_seconds=http.public_rate_window_seconds
    )


async def admit_request(request_: Request, cached_key: str | None) -> Admission:
    """Admit the request or refuse it (see the module docs)."""
    scheme, _, token = request_.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    prefix = parse_token(token) if scheme.lower() == "bearer" else None
    if prefix is None:
        raise APIError(401, "api_key_invalid", "send an API key: Authorization: Bearer tsk_...")
    app_state = state()
    token_hash = hash_token(token)
    guild = (request_.view_args or {}).get("guild", 0)
    limit = _rate_limit()
    batcher = app_state.require_batcher()  # requests arriving together share the round trip
    admission = await admit(
        batcher, app_state.keyspace, prefix, token_hash, limit, cached_key=cached_key
    )
    if admission.outcome is Outcome.MISS:
        await load_cache_entry(app_state.require_redis(), app_state.keyspace, prefix)
        admission = await admit(
            batcher, app_state.keyspace, prefix, token_hash, limit, cached_key=cached_key
        )
    match admission.outcome:
        case Outcome.OK:
            pass
        case Outcome.LIMITED:
            raise RateLimitedError(admission.retry_after)
        case _:
            raise APIError(401, "api_key_invalid", "the API key is unknown or revoked")
    if guild != admission.guild_id:
        raise APIError(403, "guild_forbidden", "this API key belongs to another server")
    return admission
