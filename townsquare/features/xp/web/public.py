"""`/public/v1` XP routes: a guild's leaderboard, member ranks and rank cards, by API key.

Every request carries `Authorization: Bearer tsk_...`, a key a guild admin created in the
dashboard; the public gate admits it before the handler runs
(:func:`~townsquare.http.public.public_blueprint`: 401, 403 or 429 otherwise). For a
leaderboard page, the gate fetches the cached body (`public_leaderboard`, 10 s) in the same
Redis call; then the query is validated (400 with field errors) and the answer given.
"""

from __future__ import annotations

import asyncio
import typing

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from quart import Response, g
from quart_schema import document_querystring, document_response

from townsquare.features.xp.domain.config import XPSection
from townsquare.features.xp.domain.curve import curve_for
from townsquare.features.xp.domain.leaderboard import (
    PageOutOfRangeError,
    leaderboard_page,
    member_standing,
)
from townsquare.features.xp.domain.rank_card import rank_card_for, render_rank_card
from townsquare.features.xp.domain.wire import RankFields
from townsquare.http.config_changes import read_config
from townsquare.http.errors import APIError, field_errors
from townsquare.http.openapi import errors, non_json_response
from townsquare.http.public import admitted, public_blueprint
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from quart.wrappers import Request

    from townsquare.features.xp.domain.curve import Curve

__all__ = ["CACHE_FAMILY", "LeaderboardOut", "blueprint", "leaderboard_body"]

CACHE_FAMILY: typing.Final = "public_leaderboard"
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


class RankOut(RankFields):
    guild_id: str
    user_id: str


def _leaderboard_cache_key(request_: Request) -> str | None:
    """The cached body's key when this is a valid leaderboard request (validated once here)."""
    if request_.endpoint != "public.leaderboard":
        return None
    args = request_.args
    query: LeaderboardQuery | None = _DEFAULT_QUERY
    if args:
        try:
            query = LeaderboardQuery.model_validate(dict(args.items()))
        except ValidationError as error:
            g.ts_query_error = error
            query = None
    g.ts_leaderboard_query = query
    guild = (request_.view_args or {}).get("guild", 0)
    if query is None or not guild:  # the route's <id:guild> is in 1..2^63-1
        return None
    return state().keyspace.key(CACHE_FAMILY, guild, query.page, query.per_page)


blueprint = public_blueprint("public", __name__, cached_key=_leaderboard_cache_key)


async def _curve(guild_id: int) -> Curve:
    return curve_for((await read_config(guild_id)).config.section(XPSection))


@blueprint.get("/guilds/<id:guild>/leaderboard")
@document_querystring(LeaderboardQuery)
@document_response(LeaderboardOut, 200)
@errors(400, 401, 403, 404, 429)
async def leaderboard(guild: int) -> Response:
    """A page of the guild's leaderboard (cached for up to 10 seconds)."""
    cached = admitted().cached
    if cached:
        return Response(cached, content_type=_JSON)
    query_args: LeaderboardQuery | None = g.ts_leaderboard_query
    if query_args is None:
        raise APIError(
            400,
            "invalid_query",
            "the query parameters are not valid",
            field_errors(g.ts_query_error),
        )
    try:
        body = await leaderboard_body(guild, query_args.page, query_args.per_page, curve=None)
    except PageOutOfRangeError as error:
        # A page past the last is a page that does not exist (valid as a query): 404.
        raise APIError(
            404,
            "page_out_of_range",
            f"no such page: the leaderboard has {error.pages}",
            {"page": [f"must be at most {error.pages}"]},
        ) from None
    return Response(body, content_type=_JSON)


async def leaderboard_body(
    guild: int, page_number: int, per_page: int, *, curve: Curve | None, cached: bool = False
) -> bytes | str:
    """The `/public/v1` answer body of a leaderboard page, computed and put in the shared
    cache (`public_leaderboard`, 10 s); with `cached`, the cached body when there is one.
    The public leaderboard page (`leaderboard_page.py`) reads the same cache."""
    app_state = state()
    redis = app_state.require_redis()
    key = app_state.keyspace.key(CACHE_FAMILY, guild, page_number, per_page)
    if cached:
        hit: bytes | str | None = await redis.get(key)
        if hit is not None:
            return hit
    page = await leaderboard_page(
        redis,
        app_state.keyspace,
        guild,
        page_number,
        curve=await _curve(guild) if curve is None else curve,
        page_size=per_page,
    )
    body = LeaderboardOut(
        guild_id=str(guild),
        page=page.page,
        per_page=per_page,
        pages=page.pages,
        ranked=page.ranked,
        entries=[
            LeaderboardEntryOut(rank=e.rank, user_id=str(e.user_id), xp=e.xp, level=e.level)
            for e in page.entries
        ],
    ).model_dump_json()
    await redis.set(key, body, ex=app_state.keyspace.ttl(CACHE_FAMILY))
    return body


async def _rank(guild: int, user_id: int) -> tuple[RankOut, Curve]:
    app_state = state()
    curve = await _curve(guild)
    standing = await member_standing(
        app_state.require_redis(), app_state.keyspace, guild, user_id, curve=curve
    )
    return RankOut.of(standing, curve, guild_id=str(guild), user_id=str(user_id)), curve


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
