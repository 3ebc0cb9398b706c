"""Interactions: slash commands and component clicks, INTERACTION_CREATE, and the bot's answers.

Discord's response rules (the 3-second first-response deadline, one initial response, the
15-minute token) are enforced by the REST routes; this module builds the payloads and keeps the
world consistent.
"""

from __future__ import annotations

import datetime
import secrets
import typing

from townsquare.sandbox.world import payloads
from townsquare.sandbox.world.commands import SUBCOMMAND_TYPES, find_command
from townsquare.sandbox.world.entitlements import active_entitlements, entitlement_payload
from townsquare.sandbox.world.models import Interaction
from townsquare.sandbox.world.permissions import (
    Permission,
    channel_permissions,
    guild_permissions,
)
from townsquare.sandbox.world.state import Dispatch

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world.models import Channel, Guild, Member, Message
    from townsquare.sandbox.world.state import World

__all__ = [
    "APPLICATION_COMMAND",
    "AUTOCOMPLETE",
    "INITIAL_RESPONSE_DEADLINE",
    "MESSAGE_COMPONENT",
    "MODAL_SUBMIT",
    "TOKEN_LIFETIME",
    "announce",
    "create_command_interaction",
    "create_component_interaction",
    "find_component",
    "interaction_payload",
]

APPLICATION_COMMAND: typing.Final[int] = 2
MESSAGE_COMPONENT: typing.Final[int] = 3
AUTOCOMPLETE: typing.Final[int] = 4
MODAL_SUBMIT: typing.Final[int] = 5
CHAT_INPUT: typing.Final[int] = 1
INITIAL_RESPONSE_DEADLINE: typing.Final = datetime.timedelta(seconds=3)
TOKEN_LIFETIME: typing.Final = datetime.timedelta(minutes=15)
"""How long follow-ups and `@original` edits work with an interaction's token."""
_ATTACHMENT_SIZE_LIMIT: typing.Final[int] = 10 * 1024 * 1024
_ACTION_ROW: typing.Final[int] = 1
_USER, _CHANNEL, _ROLE, _MENTIONABLE = 6, 7, 8, 9
"""Application command option types that name entities or nest options."""
_BOT_DM: typing.Final[int] = 1
"""Interaction context type BOT_DM (0 is GUILD)."""
_DM_APP_PERMISSIONS: typing.Final = int(
    Permission.ATTACH_FILES
    | Permission.EMBED_LINKS
    | Permission.MENTION_EVERYONE
    | Permission.USE_EXTERNAL_EMOJIS
)
"""What Discord reports as the bot's permissions in its DM with a user."""


def create_command_interaction(
    world: World,
    guild: Guild,
    channel: Channel,
    *,
    user_id: int,
    name: str,
    options: list[payloads.JSON],
    autocomplete: bool = False,
) -> Interaction:
    """A member uses `/name` in `channel` (or, with `autocomplete`, is typing its focused
    option); emits INTERACTION_CREATE (no intent needed)."""
    interaction = new_interaction(
        world,
        guild.id,
        channel.id,
        user_id,
        type=AUTOCOMPLETE if autocomplete else APPLICATION_COMMAND,
        command_name=name,
        options=options,
    )
    if find_command(world, guild.id, name) is None:
        world.command_ids.setdefault(name, world.snowflakes.next())
    return announce(world, interaction)


def create_component_interaction(
    world: World,
    guild: Guild | None,
    message: Message,
    *,
    user_id: int,
    component: payloads.JSON,
    values: list[str] | None = None,
) -> Interaction:
    """A member clicks `component` (from `find_component`) on the bot's `message`; with no
    `guild`, the user clicks it in their DM with the bot (`message` is in that DM)."""
    interaction = new_interaction(
        world,
        None if guild is None else guild.id,
        message.channel_id,
        user_id,
        type=MESSAGE_COMPONENT,
        custom_id=component["custom_id"],
        component_type=component["type"],
        values=values or [],
        message_id=message.id,
    )
    return announce(world, interaction)


def find_component(message: Message, custom_id: str) -> payloads.JSON | None:
    """The interactive component with `custom_id` in the message's action rows."""
    for row in message.components:
        children = row.get("components", []) if row.get("type") == _ACTION_ROW else [row]
        for component in children:
            if isinstance(component, dict) and component.get("custom_id") == custom_id:
                return component
    return None


def new_interaction(
    world: World, guild_id: int | None, channel_id: int, user_id: int, **fields: typing.Any
) -> Interaction:
    """An interaction by `user_id` in the channel: a fresh id and token, created now."""
    return Interaction(
        id=world.snowflakes.next(),
        token=secrets.token_urlsafe(48),
        guild_id=guild_id,
        channel_id=channel_id,
        user_id=user_id,
        created_at=world.clock(),
        **fields,
    )


def announce(world: World, interaction: Interaction) -> Interaction:
    """Record the interaction and emit its INTERACTION_CREATE (no intent needed)."""
    world.interactions[interaction.id] = interaction
    data = interaction_payload(world, interaction)
    world.emit(Dispatch("INTERACTION_CREATE", interaction.guild_id, 0, data))
    return interaction


def interaction_payload(world: World, interaction: Interaction) -> payloads.JSON:
    if interaction.guild_id is None:
        payload = _dm_fields(world, interaction)
    else:
        payload = _guild_fields(world, world.guilds[interaction.guild_id], interaction)
    if interaction.type == MODAL_SUBMIT:
        payload["data"] = {"custom_id": interaction.custom_id, "components": interaction.submitted}
        if interaction.message_id is not None and interaction.message_id in world.messages:
            payload["message"] = world.message_payload(world.messages[interaction.message_id])
    elif interaction.type == MESSAGE_COMPONENT:
        assert interaction.message_id is not None
        payload["message"] = world.message_payload(world.messages[interaction.message_id])
        payload["data"] = {
            "custom_id": interaction.custom_id,
            "component_type": interaction.component_type,
        }
        if interaction.values:
            payload["data"]["values"] = interaction.values
    else:
        assert interaction.command_name is not None
        assert interaction.guild_id is not None, "slash commands are used in guilds here"
        guild = world.guilds[interaction.guild_id]
        member = guild.members[interaction.user_id]
        command = find_command(world, guild.id, interaction.command_name)
        command_id = world.command_ids[interaction.command_name] if command is None else command.id
        payload["data"] = {
            "id": str(command_id),
            "name": interaction.command_name,
            "type": CHAT_INPUT,
            "options": interaction.options,
        }
        if resolved := _resolved(world, guild, member, interaction.options):
            payload["data"]["resolved"] = resolved
        if command is not None and command.guild_id is not None:
            payload["data"]["guild_id"] = str(command.guild_id)
    return payload


def _guild_fields(world: World, guild: Guild, interaction: Interaction) -> payloads.JSON:
    """The envelope of an interaction in a guild channel: `guild_id`, the `member` (with their
    permissions there), the bot's permissions there."""
    channel = guild.channels[interaction.channel_id]
    member = guild.members[interaction.user_id]
    bot = guild.members[world.application.bot_user_id]
    return {
        "id": str(interaction.id),
        "application_id": str(world.application.id),
        "type": interaction.type,
        "guild_id": str(guild.id),
        "channel_id": str(channel.id),
        "channel": payloads.channel_payload(channel)
        | {"permissions": str(channel_permissions(guild, channel, member))},
        "member": world.member_payload(member)
        | {"permissions": str(channel_permissions(guild, channel, member))},
        "token": interaction.token,
        "version": 1,
        "app_permissions": str(channel_permissions(guild, channel, bot)),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [
            entitlement_payload(world, e)
            for e in active_entitlements(world, user_id=member.user_id, guild_id=guild.id)
        ],
        "authorizing_integration_owners": {"0": str(guild.id)},
        "context": 0,
        "attachment_size_limit": _ATTACHMENT_SIZE_LIMIT,
    }


def _dm_fields(world: World, interaction: Interaction) -> payloads.JSON:
    """The envelope of an interaction in the user's DM with the bot, as Discord sends it: no
    `guild_id`, `member` or `guild_locale`; the `user`; the DM channel (type 1, without
    `permissions`); the context BOT_DM (1); the guild install's owner "0" (Discord's value
    for a bot DM); the bot's implicit DM permissions."""
    channel = world.dm_channels[interaction.channel_id]
    user = world.users[interaction.user_id]
    return {
        "id": str(interaction.id),
        "application_id": str(world.application.id),
        "type": interaction.type,
        "channel_id": str(channel.id),
        "channel": world.channel_payload(channel),
        "user": payloads.user_payload(user),
        "token": interaction.token,
        "version": 1,
        "app_permissions": str(_DM_APP_PERMISSIONS),
        "locale": "en-US",
        "entitlements": [
            entitlement_payload(world, e)
            for e in active_entitlements(world, user_id=user.id, guild_id=None)
        ],
        "authorizing_integration_owners": {"0": "0"},
        "context": _BOT_DM,
        "attachment_size_limit": _ATTACHMENT_SIZE_LIMIT,
    }


def _resolved(
    world: World, guild: Guild, invoker: Member, options: list[payloads.JSON]
) -> payloads.JSON:
    """`data.resolved` for the users, members, roles and channels the options name.

    As Discord sends it: keyed by id; members without `user` but with `permissions` (theirs in
    the interaction's channel is approximated by their guild permissions); channels partial,
    with the invoking member's `permissions` there.
    """
    resolved: dict[str, payloads.JSON] = {}
    for option_type, raw in _option_ids(options):
        target = int(raw) if str(raw).isdigit() else 0
        if option_type in {_USER, _MENTIONABLE} and (user := world.users.get(target)):
            resolved.setdefault("users", {})[raw] = payloads.user_payload(user)
            if (member := guild.members.get(target)) is not None:
                permissions = str(guild_permissions(guild, member))
                entry = payloads.member_payload(member, None) | {"permissions": permissions}
                resolved.setdefault("members", {})[raw] = entry
        elif option_type in {_ROLE, _MENTIONABLE} and (role := guild.roles.get(target)):
            resolved.setdefault("roles", {})[raw] = payloads.role_payload(role)
        elif option_type == _CHANNEL and (channel := guild.channels.get(target)):
            resolved.setdefault("channels", {})[raw] = {
                "id": raw,
                "name": channel.name,
                "type": int(channel.type),
                "parent_id": None if channel.parent_id is None else str(channel.parent_id),
                "permissions": str(channel_permissions(guild, channel, invoker)),
            }
    return resolved


def _option_ids(options: list[payloads.JSON]) -> list[tuple[int, str]]:
    """(type, value) of every entity option, subcommands' options included."""
    found: list[tuple[int, str]] = []
    for option in options:
        if not isinstance(option, dict):
            continue
        if option.get("type") in SUBCOMMAND_TYPES:
            found += _option_ids(option.get("options") or [])
        elif option.get("type") in {_USER, _CHANNEL, _ROLE, _MENTIONABLE}:
            found.append((option["type"], str(option.get("value"))))
    return found


def callback_payload(
    interaction: Interaction, message: Message | None, world: World
) -> payloads.JSON:
    """The `?with_response=true` body of an interaction callback."""
    body: payloads.JSON = {
        "interaction": {
            "id": str(interaction.id),
            "type": interaction.type,
            "response_message_loading": interaction.response_type == 5,
            "response_message_ephemeral": bool(
                (interaction.response_data or {}).get("flags", 0) & 64
            ),
            "channel_id": str(interaction.channel_id),
        },
        "resource": {"type": interaction.response_type},
    }
    if interaction.guild_id is not None:
        body["interaction"]["guild_id"] = str(interaction.guild_id)
    if message is not None:
        body["interaction"]["response_message_id"] = str(message.id)
        body["resource"]["message"] = world.message_payload(message)
    return body
