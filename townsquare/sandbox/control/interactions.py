"""Control routes for interactions: a member uses a slash command or clicks a button."""

from __future__ import annotations

import typing

from aiohttp import web

from townsquare.sandbox.control.common import ControlError, read_json, snowflake
from townsquare.sandbox.rest.errors import json_response
from townsquare.sandbox.world.interactions import (
    create_command_interaction,
    create_component_interaction,
    find_component,
)
from townsquare.sandbox.world.modals import MODAL, ModalError, submit_modal

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.models import Guild, Interaction, Message

__all__ = ["routes"]

_BUTTON: typing.Final[int] = 2
_LINK_STYLE: typing.Final[int] = 5
_SELECTS: typing.Final = frozenset({3, 5, 6, 7, 8})


def routes(prefix: str, world: World) -> list[web.RouteDef]:
    async def use_command(request: web.Request) -> web.Response:
        """`{"channel_id", "user_id", "name", "options"?, "autocomplete"?}`: the member uses
        `/name`, or (with `autocomplete: true` and a `focused` option) is typing it."""
        body = await read_json(request)
        channel = world.channel(snowflake(body, "channel_id"))
        guild = None if channel is None else world.guild_of(channel)
        if channel is None or guild is None:
            raise ControlError(404, f"no guild channel {body['channel_id']}")
        user_id = _member_id(guild, body)
        name = body.get("name")
        options = body.get("options", [])
        if not isinstance(name, str) or not name:
            raise ControlError(400, "name must be a non-empty string")
        if not isinstance(options, list):
            raise ControlError(400, "options must be a list of {name, type, value}")
        autocomplete = body.get("autocomplete", False)
        if not isinstance(autocomplete, bool):
            raise ControlError(400, "autocomplete must be true or false")
        if autocomplete and not any(
            isinstance(o, dict) and o.get("focused") for o in _flat_options(options)
        ):
            raise ControlError(400, "an autocomplete interaction needs a focused option")
        interaction = create_command_interaction(
            world,
            guild,
            channel,
            user_id=user_id,
            name=name,
            options=options,
            autocomplete=autocomplete,
        )
        return json_response({"id": str(interaction.id), "token": interaction.token})

    async def click(request: web.Request) -> web.Response:
        """`{"message_id", "user_id", "custom_id", "values"?}`: the member clicks a component.

        The message must be the bot's and hold an enabled, non-link component with that
        `custom_id`; `values` is for select menus. A message in a guild channel is clicked by
        a member of that guild; one in the bot's DM with a user, by that user (an
        INTERACTION_CREATE with no guild, as Discord sends it).
        """
        guild, message, user_id, component, values = _click(world, await read_json(request))
        interaction = create_component_interaction(
            world, guild, message, user_id=user_id, component=component, values=values
        )
        return json_response({"id": str(interaction.id), "token": interaction.token})

    async def submit(request: web.Request) -> web.Response:
        """`{"interaction_id", "values": {text input custom_id: text}}`: the member who got the
        modal (the bot's type 9 answer to that interaction) submits it; INTERACTION_CREATE
        type 5. 400 when no modal was opened or a value breaks its input's limits."""
        body = await read_json(request)
        source = world.interactions.get(snowflake(body, "interaction_id"))
        if source is None:
            raise ControlError(404, f"no interaction {body['interaction_id']}")
        if source.response_type != MODAL:
            raise ControlError(400, "the bot did not answer that interaction with a modal")
        values = body.get("values", {})
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise ControlError(400, "values must map text input custom_ids to strings")
        try:
            interaction = submit_modal(world, source, values)
        except ModalError as error:
            raise ControlError(400, f"{error.field}: {error}") from None
        return json_response({"id": str(interaction.id), "token": interaction.token})

    async def list_interactions(_: web.Request) -> web.Response:
        return json_response([_summary(i) for i in world.interactions.values()])

    return [
        web.get(prefix + "/interactions", list_interactions),
        web.post(prefix + "/interactions", use_command),
        web.post(prefix + "/interactions/components", click),
        web.post(prefix + "/interactions/modals", submit),
    ]


def _click(
    world: World, body: dict[str, typing.Any]
) -> tuple[Guild | None, Message, int, dict[str, typing.Any], list[str]]:
    """The click a body describes, checked: guild (None in a DM), message, member (or the DM's
    user), component, values."""
    message = world.messages.get(snowflake(body, "message_id"))
    if message is None:
        raise ControlError(404, f"no message {body['message_id']}")
    guild = world.guilds.get(message.guild_id or 0)
    dm = world.dm_channels.get(message.channel_id)
    if guild is None and dm is None:
        raise ControlError(404, f"no guild or DM message {body['message_id']}")
    if message.author_id != world.application.bot_user_id:
        raise ControlError(400, "only the bot's messages carry its components")
    if guild is not None:
        user_id = _member_id(guild, body)
    else:
        assert dm is not None
        user_id = snowflake(body, "user_id")
        if user_id == world.application.bot_user_id or user_id not in dm.recipient_ids:
            raise ControlError(400, f"user {user_id} is not the recipient of DM {dm.id}")
    custom_id = body.get("custom_id")
    component = None if not isinstance(custom_id, str) else find_component(message, custom_id)
    if component is None:
        raise ControlError(404, f"message {message.id} has no component {custom_id!r}")
    if component.get("disabled") or (
        component.get("type") == _BUTTON and component.get("style") == _LINK_STYLE
    ):
        raise ControlError(400, f"component {custom_id!r} cannot be clicked")
    values = body.get("values", [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ControlError(400, "values must be a list of strings")
    if values and component.get("type") not in _SELECTS:
        raise ControlError(400, "values are for select menus only")
    return guild, message, user_id, component, values


def _flat_options(options: list[typing.Any]) -> list[typing.Any]:
    """Options with those of subcommands (and groups) spread in."""
    flat: list[typing.Any] = []
    for option in options:
        flat.append(option)
        if isinstance(option, dict) and isinstance(option.get("options"), list):
            flat += _flat_options(option["options"])
    return flat


def _member_id(guild: Guild, body: dict[str, typing.Any]) -> int:
    user_id = snowflake(body, "user_id")
    if user_id not in guild.members:
        raise ControlError(400, f"user {user_id} is not a member of guild {guild.id}")
    return user_id


def _summary(interaction: Interaction) -> dict[str, typing.Any]:
    def maybe(value: int | None) -> str | None:
        return None if value is None else str(value)

    return {
        "id": str(interaction.id),
        "type": interaction.type,
        "command": interaction.command_name,
        "custom_id": interaction.custom_id,
        "message_id": maybe(interaction.message_id),
        "user_id": str(interaction.user_id),
        "channel_id": str(interaction.channel_id),
        "response_type": interaction.response_type,
        "response_data": interaction.response_data,
        "response_message_id": maybe(interaction.response_message_id),
        "followup_message_ids": [str(m) for m in interaction.followup_message_ids],
    }
