"""`/public/v1`: a guild's leaderboard, member ranks and rank cards, read with an API key.

Every request carries `Authorization: Bearer tsk_...`, a key a guild admin created in the
dashboard (:mod:`townsquare.http.api_keys`). Before the handler runs, one Redis call
(:func:`townsquare.core.apikeys.gate.admit`) checks the key, counts the request against the
key's rate limit and, for a leaderboard page, fetches its cached body:

- no key, a malformed, unknown or revoked key: 401 `api_key_invalid`;
- a key of another guild: 403 `guild_forbidden`;
- past the key's limit: 429 `rate_limited` with `Retry-After` (seconds to the window's end);
- then the query is validated (400 with field errors) and the answer given, from the cache
  (`public_leaderboard`, 10 s) when it has it.

The path variable is `guild`: these routes are authorised by API key, not by a dashboard
session, so they stay out of the session authorization matrix that walks `guild_id` routes.
"""

from __future__ import annotations

import asyncio
import json
import typing

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from quart import Blueprint, Response, current_app, g, request
from quart_schema import (
    HttpSecurityScheme,
    document_querystring,
    document_response,
    security_scheme_blueprint,
    tag_blueprint,
)

from townsquare.core.apikeys.gate import Admission, Outcome, RateLimit, admit
from townsquare.core.apikeys.service import hash_token, load_cache_entry, parse_token
from townsquare.core.xp.curve import curve_for
from townsquare.core.xp.leaderboard import (
    PageOutOfRangeError,
    leaderboard_page,
    member_standing,
)
from townsquare.core.xp.rank_card import rank_card_for, render_rank_card
from townsquare.http.config_changes import read_config
from townsquare.http.errors import APIError, field_errors
from townsquare.http.openapi import errors, non_json_response
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from quart.wrappers import Request
    from quart_schema.extension import SecuritySchemeInput

    from townsquare.core.xp.curve import Curve

__all__ = [
    "CACHE_FAMILY",
    "DEFAULT_RATE_LIMIT",
    "RATE_LIMIT_CONFIG",
    "SECURITY_SCHEMES",
    "RateLimitedError",
    "blueprint",
]

blueprint = Blueprint("public", __name__, url_prefix="/public/v1")
SECURITY_SCHEMES: typing.Final[dict[str, SecuritySchemeInput]] = {
    "apiKey": HttpSecurityScheme(type="http", scheme="bearer")
}
"""For QuartSchema(security_schemes=...): the bearer API key the routes below name."""
security_scheme_blueprint(blueprint, [{"apiKey": []}])
tag_blueprint(blueprint, ["public"])

CACHE_FAMILY: typing.Final = "public_leaderboard"
RATE_LIMIT_CONFIG: typing.Final = "TOWNSQUARE_PUBLIC_RATE_LIMIT"
"""`app.config` entry that overrides the settings' per-key :class:`RateLimit` (tests set it)."""
DEFAULT_RATE_LIMIT: typing.Final = RateLimit(requests=60, window_seconds=60)
"""Used only when an app runs without settings' `http.public_rate_*` (never in production)."""
MAX_PER_PAGE: typing.Final = 100
_JSON: typing.Final = "application/json"


class LeaderboardQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    page: typing.Annotated[int, Field(ge=1, le=1_000_000)] = 1
    """1-based page number."""
    per_page: typing.Annotated[int, Field(ge=1, le=MAX_PER_PAGE)] = 10
    """Members per page."""


_DEFAULT_QUERY: typing.Final = LeaderboardQuery()


class LeaderboardEntryOut(BaseModel):
    rank: int
    user_id: str
    xp: int
    level: int


class LeaderboardOut(BaseModel):
    guild_id: str
    page: int
    per_page: int
    pages: int
    ranked: int
    """Members with XP."""
    entries: list[LeaderboardEntryOut]
    """XP descending, then user id ascending: equal XP always comes in the same order."""


class RankOut(BaseModel):
    guild_id: str
    user_id: str
    xp: int
    level: int
    rank: int | None
    """None for a member without XP."""
    ranked: int
    level_start_xp: int
    next_level_xp: int | None
    """None at the guild's highest level."""


class RateLimitedError(APIError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(429, "rate_limited", f"too many requests; retry in {retry_after} s")
        self.retry_after = retry_after


def _rate_limit() -> RateLimit:
    override = current_app.config.get(RATE_LIMIT_CONFIG)
    if override is not None:
        return typing.cast("RateLimit", override)
    http = state().settings.http
    return RateLimit(
        requests=http.public_rate_requests, window_seconds=http.public_rate_window_seconds
    )


def _leaderboard_query(request_: Request) -> LeaderboardQuery | None:
    """The leaderboard's paging when this is a valid leaderboard request (validated once)."""
    if request_.endpoint != "public.leaderboard":
        return None
    args = request_.args
    if not args:
        return _DEFAULT_QUERY
    try:
        query = LeaderboardQuery.model_validate(dict(args.items()))
    except ValidationError as error:
        g.ts_query_error = error
        return None
    return query


@blueprint.before_request
async def _authenticate() -> None:
    request_ = request._get_current_object()  # one context lookup, not one per attribute
    scheme, _, token = request_.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    prefix = parse_token(token) if scheme.lower() == "bearer" else None
    if prefix is None:
        raise APIError(401, "api_key_invalid", "send an API key: Authorization: Bearer tsk_...")
    app_state = state()
    redis = app_state.require_redis()
    token_hash = hash_token(token)
    query = g.ts_leaderboard_query = _leaderboard_query(request_)
    guild = (request_.view_args or {}).get("guild", 0)
    cached_key = None
    if query is not None and guild:  # the route's <id:guild> is in 1..2^63-1
        cached_key = app_state.keyspace.key(CACHE_FAMILY, guild, query.page, query.per_page)
    limit = _rate_limit()
    batcher = app_state.require_batcher()  # requests arriving together share the round trip
    admission = await admit(
        batcher, app_state.keyspace, prefix, token_hash, limit, cached_key=cached_key
    )
    if admission.outcome is Outcome.MISS:
        await load_cache_entry(redis, app_state.keyspace, prefix)
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
    g.ts_admission = admission


@blueprint.errorhandler(APIError)
async def _error(error: APIError) -> Response:
    response = Response(json.dumps(error.body()), status=error.status, content_type=_JSON)
    if error.status == 401:  # every 401 of these routes is an APIError handled here
        response.headers["WWW-Authenticate"] = 'Bearer realm="townsquare"'
    if isinstance(error, RateLimitedError):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


async def _curve(guild_id: int) -> Curve:
    return curve_for((await read_config(guild_id)).config.xp)


@blueprint.get("/guilds/<id:guild>/leaderboard")
@document_querystring(LeaderboardQuery)
@document_response(LeaderboardOut, 200)
@errors(400, 401, 403, 404, 429)
async def leaderboard(guild: int) -> Response:
    """A page of the guild's leaderboard (cached for up to 10 seconds)."""
    admission: Admission = g.ts_admission
    if admission.cached:
        return Response(admission.cached, content_type=_JSON)
    query_args: LeaderboardQuery | None = g.ts_leaderboard_query
    if query_args is None:
        raise APIError(
            400,
            "invalid_query",
            "the query parameters are not valid",
            field_errors(g.ts_query_error),
        )
    app_state = state()
    redis = app_state.require_redis()
    try:
        page = await leaderboard_page(
            redis,
            app_state.keyspace,
            guild,
            query_args.page,
            curve=await _curve(guild),
            page_size=query_args.per_page,
        )
    except PageOutOfRangeError as error:
        # A page past the last is a page that does not exist (valid as a query): 404.
        raise APIError(
            404,
            "page_out_of_range",
            f"no such page: the leaderboard has {error.pages}",
            {"page": [f"must be at most {error.pages}"]},
        ) from None
    body = LeaderboardOut(
        guild_id=str(guild),
        page=page.page,
        per_page=query_args.per_page,
        pages=page.pages,
        ranked=page.ranked,
        entries=[
            LeaderboardEntryOut(rank=e.rank, user_id=str(e.user_id), xp=e.xp, level=e.level)
            for e in page.entries
        ],
    ).model_dump_json()
    key = app_state.keyspace.key(CACHE_FAMILY, guild, query_args.page, query_args.per_page)
    await redis.set(key, body, ex=app_state.keyspace.ttl(CACHE_FAMILY))
    return Response(body, content_type=_JSON)


async def _rank(guild: int, user_id: int) -> tuple[RankOut, Curve]:
    app_state = state()
    curve = await _curve(guild)
    standing = await member_standing(
        app_state.require_redis(), app_state.keyspace, guild, user_id, curve=curve
    )
    card = rank_card_for(str(user_id), standing.xp, standing.rank, curve)
    out = RankOut(
        guild_id=str(guild),
        user_id=str(user_id),
        xp=standing.xp,
        level=standing.level,
        rank=standing.rank,
        ranked=standing.ranked,
        level_start_xp=card.level_start_xp,
        next_level_xp=card.next_level_xp,
    )
    return out, curve


@blueprint.get("/guilds/<id:guild>/members/<id:user_id>/rank")
@document_response(RankOut, 200)
@errors(401, 403, 404, 429)
async def member_rank(guild: int, user_id: int) -> Response:
    """A member's XP, level and place on the leaderboard (`rank` null without XP)."""
    out, _ = await _rank(guild, user_id)
    return Response(out.model_dump_json(), content_type=_JSON)


@blueprint.get("/guilds/<id:guild>/members/<id:user_id>/rank-card.png")
@non_json_response(200, "the rank card, 934x282", "image/png")
@errors(401, 403, 404, 429)
async def rank_card(guild: int, user_id: int) -> Response:
    """The member's rank card as a 934x282 PNG (the name is the user id; no avatar)."""
    out, curve = await _rank(guild, user_id)
    card = rank_card_for(str(user_id), out.xp, out.rank, curve)
    png = await asyncio.to_thread(render_rank_card, card)
    return Response(png, content_type="image/png")
