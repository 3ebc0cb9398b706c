"""Interaction callbacks: the bot's first response to a slash command or a component click.

As on Discord: no bot token needed (the interaction token authenticates), no rate limit
headers, one initial response within 3 seconds, else 404 Unknown interaction. Types 4 (message)
and 5 (deferred) answer any interaction; 6 (deferred update) and 7 (update the clicked
message) only a component click. An ephemeral reply (flag 64) is kept for `@original` but is
neither announced nor listed.
"""

from __future__ import annotations

import typing

from aiohttp import web

from townsquare.sandbox.rest.common import json_body, snowflake
from townsquare.sandbox.rest.errors import DiscordError, ErrorCode, form_error, json_response
from townsquare.sandbox.rest.routes_channels import allowed_mentions_field, message_fields
from townsquare.sandbox.world.interactions import (
    INITIAL_RESPONSE_DEADLINE,
    MESSAGE_COMPONENT,
    callback_payload,
)

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.models import Interaction

__all__ = ["CALLBACK_ROUTE", "response_message_type", "routes"]

CALLBACK_ROUTE: typing.Final[str] = (
    "/api/v10/interactions/{interaction_id}/{interaction_token}/callback"
)
CHANNEL_MESSAGE_WITH_SOURCE: typing.Final[int] = 4
DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: typing.Final[int] = 5
DEFERRED_UPDATE_MESSAGE: typing.Final[int] = 6
UPDATE_MESSAGE: typing.Final[int] = 7
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
        allowed = {CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE}
        if interaction.type == MESSAGE_COMPONENT:
            allowed |= {DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE}
        if response_type not in allowed:
            choices = ", ".join(str(t) for t in sorted(allowed))
            raise form_error("type", "BASE_TYPE_CHOICES", f"Value must be one of {{{choices}}}.")
        message = None
        if response_type in {DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE}:
            assert interaction.message_id is not None
            message = world.messages.get(interaction.message_id)
            if message is None:
                raise DiscordError.unknown(ErrorCode.UNKNOWN_MESSAGE, "Message")
            if response_type == UPDATE_MESSAGE:
                content, embeds, components = message_fields(data)
                world.edit_message(
                    message,
                    content=content,
                    embeds=embeds,
                    components=components,
                    allowed_mentions=allowed_mentions_field(data),
                )
            interaction.response_message_id = message.id
        elif response_type == CHANNEL_MESSAGE_WITH_SOURCE:
            content, embeds, components = message_fields(data)
            if not content and not embeds and not components:
                raise DiscordError(400, ErrorCode.EMPTY_MESSAGE, "Cannot send an empty message")
            channel = world.guilds[interaction.guild_id].channels[interaction.channel_id]
            message = world.create_message(
                channel,
                world.application.bot_user_id,
                content or "",
                embeds=embeds,
                components=components,
                message_type=response_message_type(interaction),
                flags=int(data.get("flags") or 0) & EPHEMERAL,
                allowed_mentions=allowed_mentions_field(data),
            )
            interaction.response_message_id = message.id
        interaction.response_type = response_type
        interaction.response_data = data
        if request.query.get("with_response", "").lower() == "true":
            return json_response(callback_payload(interaction, message, world))
        return web.Response(status=204)

    return [web.post(CALLBACK_ROUTE, callback)]


def response_message_type(interaction: Interaction) -> int:
    """A reply to a slash command is a CHAT_INPUT_COMMAND message; to a click, a DEFAULT one."""
    return CHAT_INPUT_COMMAND_MESSAGE if interaction.type != MESSAGE_COMPONENT else 0
