"""Interaction callbacks: the bot's first response to a slash command.

As on Discord: no bot token needed (the interaction token authenticates), no rate limit
headers, one initial response within 3 seconds, else 404 Unknown interaction.
"""

from __future__ import annotations

import typing

from aiohttp import web

from townsquare.sandbox.rest.common import json_body, snowflake
from townsquare.sandbox.rest.errors import DiscordError, ErrorCode, form_error, json_response
from townsquare.sandbox.rest.routes_channels import message_fields
from townsquare.sandbox.world.interactions import INITIAL_RESPONSE_DEADLINE, callback_payload

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World

__all__ = ["CALLBACK_ROUTE", "routes"]

CALLBACK_ROUTE: typing.Final[str] = (
    "/api/v10/interactions/{interaction_id}/{interaction_token}/callback"
)
CHANNEL_MESSAGE_WITH_SOURCE: typing.Final[int] = 4
DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: typing.Final[int] = 5
EPHEMERAL: typing.Final[int] = 1 << 6
CHAT_INPUT_COMMAND_MESSAGE: typing.Final[int] = 20


def routes(world: World) -> list[web.RouteDef]:
    async def callback(request: web.Request) -> web.Response:
        interaction = world.interactions.get(snowflake(request, "interaction_id"))
        expired = (
            interaction is not None
            and world.clock() - interaction.created_at > INITIAL_RESPONSE_DEADLINE
        )
        if (
            interaction is None
            or interaction.token != request.match_info["interaction_token"]
            or expired
        ):
            raise DiscordError.unknown(ErrorCode.UNKNOWN_INTERACTION, "interaction")
        if interaction.response_type is not None:
            raise DiscordError(
                400, ErrorCode.ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged."
            )
        body = await json_body(request)
        response_type = body.get("type")
        data = body.get("data") or {}
        if response_type not in {CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE}:
            raise form_error("type", "BASE_TYPE_CHOICES", "Value must be one of {4, 5}.")
        message = None
        if response_type == CHANNEL_MESSAGE_WITH_SOURCE:
            content, embeds, components = message_fields(data)
            if not content and not embeds and not components:
                raise DiscordError(400, ErrorCode.EMPTY_MESSAGE, "Cannot send an empty message")
            if not int(data.get("flags") or 0) & EPHEMERAL:
                channel = world.guilds[interaction.guild_id].channels[interaction.channel_id]
                message = world.create_message(
                    channel,
                    world.application.bot_user_id,
                    content or "",
                    embeds=embeds,
                    components=components,
                    message_type=CHAT_INPUT_COMMAND_MESSAGE,
                )
                interaction.response_message_id = message.id
        interaction.response_type = response_type
        interaction.response_data = data
        if request.query.get("with_response", "").lower() == "true":
            return json_response(callback_payload(interaction, message, world))
        return web.Response(status=204)

    return [web.post(CALLBACK_ROUTE, callback)]
