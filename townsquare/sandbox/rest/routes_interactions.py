"""Interaction callbacks: the bot's first response to a slash command or a component click.

As on Discord: no bot token needed (the interaction token authenticates), no rate limit
headers, one initial response within 3 seconds, else 404 Unknown interaction. Types 4 (message)
and 5 (deferred) answer any interaction; 6 (deferred update) and 7 (update the clicked
message) a component click, or a modal opened from one; 9 (open a modal) all but a modal
submit; 8 (autocomplete choices, at most 25) an autocomplete interaction, and only that. An
ephemeral reply (flag 64) is kept for `@original` but is neither announced nor
listed.
"""

from __future__ import annotations

import typing

from aiohttp import web

from townsquare.sandbox.rest.common import snowflake
from townsquare.sandbox.rest.errors import DiscordError, ErrorCode, form_error, json_response
from townsquare.sandbox.rest.routes_channels import (
    allowed_mentions_field,
    edit_from_body,
    message_fields,
)
from townsquare.sandbox.rest.uploads import attachments_for, message_body
from townsquare.sandbox.world.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    INITIAL_RESPONSE_DEADLINE,
    MODAL_SUBMIT,
    callback_payload,
)
from townsquare.sandbox.world.modals import MODAL, ModalError, check_modal

if typing.TYPE_CHECKING:
    from townsquare.sandbox.rest.uploads import Upload
    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.models import Interaction, Message

__all__ = ["CALLBACK_ROUTE", "response_message_type", "routes"]

CALLBACK_ROUTE: typing.Final[str] = (
    "/api/v10/interactions/{interaction_id}/{interaction_token}/callback"
)
CHANNEL_MESSAGE_WITH_SOURCE: typing.Final[int] = 4
DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: typing.Final[int] = 5
DEFERRED_UPDATE_MESSAGE: typing.Final[int] = 6
UPDATE_MESSAGE: typing.Final[int] = 7
AUTOCOMPLETE_RESULT: typing.Final[int] = 8
MAX_CHOICES: typing.Final[int] = 25
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
        body, uploads = await message_body(request)
        response_type = body.get("type")
        data = body.get("data") or {}
        allowed = _allowed_responses(interaction)
        if response_type not in allowed:
            choices = ", ".join(str(t) for t in sorted(allowed))
            raise form_error("type", "BASE_TYPE_CHOICES", f"Value must be one of {{{choices}}}.")
        if response_type == MODAL:
            try:
                data = check_modal(data)
            except ModalError as error:
                raise form_error(error.field, "BASE_TYPE_BAD_LENGTH", str(error)) from None
        elif response_type == AUTOCOMPLETE_RESULT:
            _check_choices(data)
        message = _respond(world, interaction, response_type, data, uploads)
        interaction.response_type = response_type
        interaction.response_data = data
        if request.query.get("with_response", "").lower() == "true":
            return json_response(callback_payload(interaction, message, world))
        return web.Response(status=204)

    return [web.post(CALLBACK_ROUTE, callback)]


def _allowed_responses(interaction: Interaction) -> set[int]:
    if interaction.type == AUTOCOMPLETE:
        return {AUTOCOMPLETE_RESULT}
    allowed = {CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE}
    if interaction.message_id is not None:  # a click, or a modal opened by one
        allowed |= {DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE}
    if interaction.type != MODAL_SUBMIT:
        allowed.add(MODAL)
    return allowed


def _check_choices(data: dict[str, typing.Any]) -> None:
    """At most 25 choices, each a 1..100 character name with a value."""
    choices = data.get("choices")
    if not isinstance(choices, list) or len(choices) > MAX_CHOICES:
        raise form_error(
            "data.choices", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CHOICES} or fewer in length."
        )
    for index, choice in enumerate(choices):
        name = choice.get("name") if isinstance(choice, dict) else None
        if not isinstance(name, str) or not 1 <= len(name) <= 100 or "value" not in choice:
            raise form_error(
                f"data.choices.{index}.name",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )


def _respond(
    world: World,
    interaction: Interaction,
    response_type: int,
    data: dict[str, typing.Any],
    uploads: dict[int, Upload],
) -> Message | None:
    """The message the response posts or updates, if any."""
    if response_type in {DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE}:
        assert interaction.message_id is not None
        message = world.messages.get(interaction.message_id)
        if message is None:
            raise DiscordError.unknown(ErrorCode.UNKNOWN_MESSAGE, "Message")
        if response_type == UPDATE_MESSAGE:
            edit_from_body(world, message, data, uploads)
        interaction.response_message_id = message.id
        return message
    if response_type != CHANNEL_MESSAGE_WITH_SOURCE:
        return None
    flags = int(data.get("flags") or 0)
    message = post_reply(
        world, interaction, data, uploads, flags, response_message_type(interaction), empty=False
    )
    interaction.response_message_id = message.id
    return message


def post_reply(  # noqa: PLR0917 - the parts of a reply, as each caller has them
    world: World,
    interaction: Interaction,
    body: dict[str, typing.Any],
    uploads: dict[int, Upload],
    flags: int,
    message_type: int,
    *,
    empty: bool,
) -> Message:
    """The bot's message in the interaction's channel from a response or webhook `body` (only
    its ephemeral flag kept); an empty one is 400 50006 unless `empty` allows it."""
    content, embeds, components = message_fields(body)
    if not empty and not content and not embeds and not components and not uploads:
        raise DiscordError(400, ErrorCode.EMPTY_MESSAGE, "Cannot send an empty message")
    channel = world.channel(interaction.channel_id)  # a guild channel or the DM
    if channel is None:
        raise DiscordError.unknown(ErrorCode.UNKNOWN_CHANNEL, "Channel")
    return world.create_message(
        channel,
        world.application.bot_user_id,
        content or "",
        embeds=embeds,
        components=components,
        message_type=message_type,
        flags=flags & EPHEMERAL,
        allowed_mentions=allowed_mentions_field(body),
        attachments=attachments_for(world, interaction.channel_id, body, uploads),
    )


def response_message_type(interaction: Interaction) -> int:
    """A reply to a slash command is a CHAT_INPUT_COMMAND message; to a click or a modal
    submission, a DEFAULT one."""
    return CHAT_INPUT_COMMAND_MESSAGE if interaction.type == APPLICATION_COMMAND else 0
