"""`/api/v1` feed routes: a guild's live alert feeds (JSON), for its managers.

Authorized like every `/api/v1` guild route (:func:`~townsquare.http.blueprints.api_blueprint`).
Adding looks the creator up on the platform (404 when unknown, 502 when the platform cannot
be asked), checks the channel and role against Discord's facts (400, or 503 when Discord
cannot be asked) and the server's premium limit (402).
"""

from __future__ import annotations

from pydantic import BaseModel
from quart import Response, g
from quart_schema import validate_request, validate_response

from townsquare.core.audit.models import ActorKind
from townsquare.core.audit.service import Actor
from townsquare.features.streams.domain.feeds import FeedOut, NewFeed
from townsquare.features.streams.web import service
from townsquare.http.blueprints import API_READ, API_WRITE, api_blueprint
from townsquare.http.openapi import errors, non_json_response

__all__ = ["FeedList", "blueprint"]

blueprint = api_blueprint("streams_api", __name__)


class FeedList(BaseModel):
    feeds: list[FeedOut]


def _actor() -> Actor:
    session = g.ts_session
    return Actor(ActorKind.USER, session.user_id, session.username)


@blueprint.get("/guilds/<id:guild_id>/stream-feeds")
@API_READ
@validate_response(FeedList)
@errors(401, 403, 404, 502)
async def get_feeds(guild_id: int) -> FeedList:
    """The guild's live alert feeds, with each one's health."""
    return FeedList(feeds=await service.list_feeds(guild_id))


@blueprint.post("/guilds/<id:guild_id>/stream-feeds")
@API_WRITE
@validate_request(NewFeed)
@validate_response(FeedOut, 201)
@errors(400, 401, 402, 403, 404, 409, 413, 415, 502, 503)
async def post_feed(guild_id: int, data: NewFeed) -> tuple[FeedOut, int]:
    """Add a feed; 404 `unknown_creator` when the platform has no such creator, 409 when the
    creator already posts in that channel or the platform is off, 402 past the premium limit."""
    return await service.add_feed(guild_id, data, _actor()), 201


@blueprint.delete("/guilds/<id:guild_id>/stream-feeds/<id:feed_id>")
@API_WRITE
@non_json_response(204, "removed (no body)")
@errors(401, 403, 404, 502)
async def delete_feed(guild_id: int, feed_id: int) -> Response:
    """Remove a feed; the creator's subscription ends when no feed follows them."""
    await service.remove_feed(guild_id, feed_id, _actor())
    return Response(status=204)
