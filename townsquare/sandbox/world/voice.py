"""Voice states: members joining, moving, muting and leaving voice channels."""

from __future__ import annotations

import typing

from townsquare.sandbox.intents import Intent
from townsquare.sandbox.world import payloads
from townsquare.sandbox.world.models import VoiceState
from townsquare.sandbox.world.state import Dispatch

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world.models import Channel, Guild, Member
    from townsquare.sandbox.world.state import World

__all__ = ["set_voice_state"]


def set_voice_state(
    world: World,
    guild: Guild,
    member: Member,
    channel: Channel | None,
    *,
    self_mute: bool | None = None,
    self_deaf: bool | None = None,
    mute: bool | None = None,
    deaf: bool | None = None,
) -> VoiceState:
    """Put the member in `channel` (None: disconnect) with the given flags; VOICE_STATE_UPDATE.

    Flags left as None keep their value; a member joining voice starts unmuted. Server mute and
    deafen (`mute`, `deaf`) also live on the member, as Discord keeps them across channels.
    """
    state = guild.voice_states.get(member.user_id)
    if state is None:
        state = VoiceState(guild.id, None, member.user_id, f"{world.snowflakes.next():x}")
        state.mute, state.deaf = member.mute, member.deaf
    state.channel_id = None if channel is None else channel.id
    if self_mute is not None:
        state.self_mute = self_mute
    if self_deaf is not None:
        state.self_deaf = self_deaf
    if mute is not None:
        state.mute = member.mute = mute
    if deaf is not None:
        state.deaf = member.deaf = deaf
    if channel is None:
        guild.voice_states.pop(member.user_id, None)
    else:
        guild.voice_states[member.user_id] = state
    data = payloads.voice_state_payload(state, world.member_payload(member))
    world.emit(Dispatch("VOICE_STATE_UPDATE", guild.id, Intent.GUILD_VOICE_STATES, data))
    return state
