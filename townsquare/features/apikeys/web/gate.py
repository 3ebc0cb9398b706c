"""The public API's gate (`PUBLIC_GATE`): admits a `/public/v1` request by its API key.

One Redis call (:func:`townsquare.features.apikeys.domain.gate.admit`) checks the key, counts
the request against the key's rate limit and, when the route named one, fetches a cached answer:

- no key, a malformed, unknown or revoked key: 401 `api_key_invalid`;
- a key of another guild: 403 `guild_forbidden`;
- past the key's limit (the guild's tier's `apikeys.requests_per_minute`): 429 `rate_limited`
  with `Retry-After` (seconds to the window's end);
- a key past the tier's `apikeys.keys` (the newest, after a downgrade): 402 `premium_required`.

A key not yet in Redis is loaded from PostgreSQL once and asked again.
"""

from __future__ import annotations

import typing

from quart import current_app

from townsquare.features.apikeys.domain.gate import Admission, Outcome, RateLimit, admit
from townsquare.features.apikeys.domain.service import (
    KEYS_LIMIT,
    RATE_LIMIT,
    hash_token,
    load_cache_entry,
    parse_token,
)
from townsquare.http.errors import APIError
from townsquare.http.premium import PremiumRequiredError
from townsquare.http.public import RateLimitedError
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from quart.wrappers import Request

__all__ = ["DEFAULT_RATE_LIMIT", "RATE_LIMIT_CONFIG", "admit_request"]

RATE_LIMIT_CONFIG: typing.Final = "TOWNSQUARE_PUBLIC_RATE_LIMIT"
"""`app.config` entry that overrides the settings' per-key :class:`RateLimit` (tests set it)."""
DEFAULT_RATE_LIMIT: typing.Final = RateLimit(requests=60, window_seconds=60)
"""Used only when an app runs without settings' `http.public_rate_*` (never in production)."""


async def _rate_limit(guild_id: int) -> RateLimit:
    """The key's limit: the tier's `apikeys.requests_per_minute` (scaled to the window of
    `http.public_rate_window_seconds`); `http.public_rate_requests` on a tier with no limit."""
    override = current_app.config.get(RATE_LIMIT_CONFIG)
    if override is not None:
        return typing.cast("RateLimit", override)
    http = state().settings.http
    window = http.public_rate_window_seconds
    per_minute = await state().require_gate().value(guild_id, RATE_LIMIT) if guild_id else None
    if not isinstance(per_minute, int) or isinstance(per_minute, bool):
        return RateLimit(requests=http.public_rate_requests, window_seconds=window)
    return RateLimit(requests=max(1, per_minute * window // 60), window_seconds=window)


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
    limit = await _rate_limit(guild if isinstance(guild, int) else 0)
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
    # Past the tier's `apikeys.keys` (after a downgrade) the newest keys are paused.
    verdict = await app_state.require_gate().may(guild, KEYS_LIMIT, usage=admission.ordinal)
    if not verdict.allowed:
        refused = PremiumRequiredError.of(verdict, guild)
        refused.message = f"this API key is paused: {refused.message}"
        raise refused
    return admission
