"""Interaction follow-ups and `@original` on `/webhooks/{application_id}/{interaction_token}`.

As on Discord: the interaction token authenticates (no bot token) and works for 15 minutes
after the interaction (then 401 50027 Invalid Webhook Token, as for an unknown token); a
follow-up needs the initial response first; `@original` is the initial response's message (a
deferred response's message is created by the first `@original` edit); `/messages/{id}` reaches
the original and the follow-ups only.
"""

from __future__ import annotations

import typing

from aiohttp import web

from townsquare.sandbox.rest import routes_channel_webhooks
from townsquare.sandbox.rest.common import snowflake
from townsquare.sandbox.rest.errors import DiscordError, ErrorCode, json_response
from townsquare.sandbox.rest.routes_channels import edit_from_body
from townsquare.sandbox.rest.routes_interactions import post_reply, response_message_type
from townsquare.sandbox.rest.uploads import message_body
from townsquare.sandbox.world.interactions import TOKEN_LIFETIME

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.models import Interaction, Message

__all__ = ["WEBHOOK_PREFIX", "routes"]

WEBHOOK_PREFIX: typing.Final[str] = "/api/v10/webhooks/"
_DEFERRED: typing.Final[int] = 5


def routes(world: World) -> list[web.RouteDef]:
    def interaction_of(request: web.Request) -> Interaction:
        if snowflake(request, "webhook_id") != world.application.id:
            raise DiscordError.unknown(ErrorCode.UNKNOWN_WEBHOOK, "Webhook")
        token = request.match_info["webhook_token"]
        found = next((i for i in world.interactions.values() if i.token == token), None)
        if found is None or world.clock() - found.created_at > TOKEN_LIFETIME:
            raise DiscordError(401, ErrorCode.INVALID_WEBHOOK_TOKEN, "Invalid Webhook Token")
        return found

    def message_of(interaction: Interaction, request: web.Request) -> Message:
        raw = request.match_info.get("message_id", "@original")
        if raw == "@original":
            message_id = interaction.response_message_id
        else:
            message_id = snowflake(request, "message_id")
            if message_id not in {
                interaction.response_message_id,
                *interaction.followup_message_ids,
            }:
                message_id = None
        message = None if message_id is None else world.messages.get(message_id)
        if message is None:
            raise DiscordError.unknown(ErrorCode.UNKNOWN_MESSAGE, "Message")
        return message

    async def follow_up(request: web.Request) -> web.Response:
        if snowflake(request, "webhook_id") != world.application.id:
            return await routes_channel_webhooks.execute(world, request)  # an incoming webhook
        interaction = interaction_of(request)
        if interaction.response_type is None:
            raise DiscordError.unknown(ErrorCode.UNKNOWN_WEBHOOK, "Webhook")
        body, uploads = await message_body(request)
        flags = int(body.get("flags") or 0)
        message = post_reply(world, interaction, body, uploads, flags, 0, empty=False)
        interaction.followup_message_ids.append(message.id)
        if request.query.get("wait", "").lower() != "true":
            return web.Response(status=204)
        return json_response(world.message_payload(message))

    async def get_message(request: web.Request) -> web.Response:
        message = message_of(interaction_of(request), request)
        return json_response(world.message_payload(message))

    async def edit_message(request: web.Request) -> web.Response:
        interaction = interaction_of(request)
        body, uploads = await message_body(request)
        original = request.match_info.get("message_id", "@original") == "@original"
        if (
            original
            and interaction.response_type == _DEFERRED
            and interaction.response_message_id is None
        ):
            flags = int((interaction.response_data or {}).get("flags") or 0)
            kind = response_message_type(interaction)
            message = post_reply(world, interaction, body, uploads, flags, kind, empty=True)
            interaction.response_message_id = message.id
        else:
            message = message_of(interaction, request)
            edit_from_body(world, message, body, uploads)
        return json_response(world.message_payload(message))

    async def delete_message(request: web.Request) -> web.Response:
        world.delete_message(message_of(interaction_of(request), request))
        return web.Response(status=204)

    base = WEBHOOK_PREFIX + "{webhook_id}/{webhook_token}"
    routes = [web.post(base, follow_up)]
    for path in (base + "/messages/@original", base + "/messages/{message_id}"):
        routes += [
            web.get(path, get_message),
            web.patch(path, edit_message),
            web.delete(path, delete_message),
        ]
    return routes
