"""Op 4 (voice state update): the bot joins, moves in or leaves a voice channel.

As on Discord, the answer is a VOICE_STATE_UPDATE for the bot (to sessions with
GUILD_VOICE_STATES). A request for a guild of another shard, an unknown or non-voice channel,
or one the bot may not connect to changes nothing. No voice server runs, so no
VOICE_SERVER_UPDATE follows.
"""

from __future__ import annotations

import typing

from townsquare.sandbox.world.models import ChannelType
from townsquare.sandbox.world.permissions import Permission, channel_permissions
from townsquare.sandbox.world.voice import set_voice_state

if typing.TYPE_CHECKING:
    from townsquare.sandbox.gateway.session import GatewaySession
    from townsquare.sandbox.world import World

__all__ = ["move_bot_in_voice"]

_CONNECT = Permission.VIEW_CHANNEL | Permission.CONNECT


def move_bot_in_voice(world: World, session: GatewaySession, data: typing.Any) -> None:
    if not isinstance(data, dict) or not str(data.get("guild_id", "")).isdigit():
        return
    guild = world.guilds.get(int(data["guild_id"]))
    if guild is None or not session.owns_guild(guild.id):
        return
    bot = guild.members.get(world.application.bot_user_id)
    if bot is None:
        return
    raw = data.get("channel_id")
    channel = None
    if raw is not None:
        channel = guild.channels.get(int(raw)) if str(raw).isdigit() else None
        if channel is None or channel.type is not ChannelType.GUILD_VOICE:
            return
        if channel_permissions(guild, channel, bot) & _CONNECT != _CONNECT:
            return
    elif bot.user_id not in guild.voice_states:
        return
    set_voice_state(
        world,
        guild,
        bot,
        channel,
        self_mute=bool(data.get("self_mute", False)),
        self_deaf=bool(data.get("self_deaf", False)),
    )
