"""Guild channels deleted (by the bot through REST, or by a member in the nuke scenario)."""

from __future__ import annotations

import typing

from townsquare.sandbox.intents import Intent
from townsquare.sandbox.world import payloads
from townsquare.sandbox.world.state import Dispatch

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world.models import Channel, Guild
    from townsquare.sandbox.world.state import World

__all__ = ["delete_channel"]


def delete_channel(world: World, guild: Guild, channel: Channel) -> None:
    """CHANNEL_DELETE, as Discord: the channel's messages go with it (no MESSAGE_DELETE), a
    category's children stay without a parent (CHANNEL_UPDATE each), and the guild's AFK and
    system channel settings that named it are cleared."""
    del guild.channels[channel.id]
    for message_id in [m.id for m in world.messages.values() if m.channel_id == channel.id]:
        del world.messages[message_id]
    for code in [c for c, target in guild.invites.items() if target == channel.id]:
        del guild.invites[code]
    if guild.afk_channel_id == channel.id:
        guild.afk_channel_id = None
    if guild.system_channel_id == channel.id:
        guild.system_channel_id = None
    payload = payloads.channel_payload(channel)
    world.emit(Dispatch("CHANNEL_DELETE", guild.id, Intent.GUILDS, payload))
    for child in guild.channels.values():
        if child.parent_id == channel.id:
            child.parent_id = None
            changed = payloads.channel_payload(child)
            world.emit(Dispatch("CHANNEL_UPDATE", guild.id, Intent.GUILDS, changed))
