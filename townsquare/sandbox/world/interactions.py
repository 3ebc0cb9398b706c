"""Slash command interactions: INTERACTION_CREATE and the record of the bot's response.

Discord's response rules (the 3-second first-response deadline, one initial response) are
enforced by the REST route; this module builds the payloads and keeps the world consistent.
"""

from __future__ import annotations

import datetime
import secrets
import typing

from townsquare.sandbox.world import payloads
from townsquare.sandbox.world.models import Interaction
from townsquare.sandbox.world.permissions import channel_permissions
from townsquare.sandbox.world.state import Dispatch

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world.models import Channel, Guild, Message
    from townsquare.sandbox.world.state import World

__all__ = [
    "APPLICATION_COMMAND",
    "INITIAL_RESPONSE_DEADLINE",
    "create_command_interaction",
    "interaction_payload",
]

APPLICATION_COMMAND: typing.Final[int] = 2
CHAT_INPUT: typing.Final[int] = 1
INITIAL_RESPONSE_DEADLINE: typing.Final = datetime.timedelta(seconds=3)
_ATTACHMENT_SIZE_LIMIT: typing.Final[int] = 10 * 1024 * 1024


def create_command_interaction(
    world: World,
    guild: Guild,
    channel: Channel,
    *,
    user_id: int,
    name: str,
    options: list[payloads.JSON],
) -> Interaction:
    """A member uses `/name` in `channel`; emits INTERACTION_CREATE (no intent needed)."""
    interaction = Interaction(
        id=world.snowflakes.next(),
        token=secrets.token_urlsafe(48),
        guild_id=guild.id,
        channel_id=channel.id,
        user_id=user_id,
        command_name=name,
        options=options,
        created_at=world.clock(),
    )
    world.command_ids.setdefault(name, world.snowflakes.next())
    world.interactions[interaction.id] = interaction
    world.emit(Dispatch("INTERACTION_CREATE", guild.id, 0, interaction_payload(world, interaction)))
    return interaction


def interaction_payload(world: World, interaction: Interaction) -> payloads.JSON:
    guild = world.guilds[interaction.guild_id]
    channel = guild.channels[interaction.channel_id]
    member = guild.members[interaction.user_id]
    bot = guild.members[world.application.bot_user_id]
    return {
        "id": str(interaction.id),
        "application_id": str(world.application.id),
        "type": APPLICATION_COMMAND,
        "data": {
            "id": str(world.command_ids[interaction.command_name]),
            "name": interaction.command_name,
            "type": CHAT_INPUT,
            "options": interaction.options,
        },
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
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild.id)},
        "context": 0,
        "attachment_size_limit": _ATTACHMENT_SIZE_LIMIT,
    }


def callback_payload(
    interaction: Interaction, message: Message | None, world: World
) -> payloads.JSON:
    """The `?with_response=true` body of an interaction callback."""
    body: payloads.JSON = {
        "interaction": {
            "id": str(interaction.id),
            "type": APPLICATION_COMMAND,
            "response_message_loading": interaction.response_type == 5,
            "response_message_ephemeral": bool(
                (interaction.response_data or {}).get("flags", 0) & 64
            ),
            "channel_id": str(interaction.channel_id),
            "guild_id": str(interaction.guild_id),
        },
        "resource": {"type": interaction.response_type},
    }
    if message is not None:
        body["interaction"]["response_message_id"] = str(message.id)
        body["resource"]["message"] = world.message_payload(message)
    return body
