"""`/internal/v1` feed routes: what `/alerts add|remove|list` ask for (flow 2)."""

from __future__ import annotations

import typing

from quart_schema import hide, validate_request

from townsquare.core.audit.models import ActorKind
from townsquare.core.audit.service import Actor as AuditActor
from townsquare.core.commands_api import Actor as ActorBody
from townsquare.features.streams.domain.feeds import NewFeed
from townsquare.features.streams.web import service
from townsquare.http.blueprints import internal_blueprint

__all__ = ["CommandFeed", "blueprint"]

blueprint = internal_blueprint("streams_internal", __name__)


class CommandFeed(NewFeed, ActorBody):
    """A feed added with `/alerts add`, and who added it."""


def _actor(body: ActorBody) -> AuditActor:
    return AuditActor(ActorKind.USER, body.actor_id, body.actor_name)


@blueprint.get("/guilds/<id:guild_id>/stream-feeds")
@hide
async def list_feeds(guild_id: int) -> dict[str, typing.Any]:
    feeds = await service.list_feeds(guild_id)
    return {"feeds": [feed.model_dump(mode="json") for feed in feeds]}


@blueprint.post("/guilds/<id:guild_id>/stream-feeds")
@hide
@validate_request(CommandFeed)
async def add_feed(guild_id: int, data: CommandFeed) -> tuple[dict[str, typing.Any], int]:
    new = NewFeed.model_validate(data.model_dump(include=set(NewFeed.model_fields)))
    added = await service.add_feed(guild_id, new, _actor(data))
    return added.model_dump(mode="json"), 201


@blueprint.post("/guilds/<id:guild_id>/stream-feeds/<id:feed_id>/remove")
@hide
@validate_request(ActorBody)
async def remove_feed(guild_id: int, feed_id: int, data: ActorBody) -> dict[str, typing.Any]:
    await service.remove_feed(guild_id, feed_id, _actor(data))
    return {"removed": feed_id}
