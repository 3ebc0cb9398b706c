"""Members joining, changing, leaving, and being banned: the world's side, with its dispatches.

Rule checks (permissions, hierarchy, limits) belong to the callers; these functions keep the
world consistent and announce each change as Discord does.
"""

from __future__ import annotations

import datetime
import enum
import typing

from townsquare.sandbox.intents import Intent
from townsquare.sandbox.world import payloads
from townsquare.sandbox.world.models import Ban, Member
from townsquare.sandbox.world.state import Dispatch
from townsquare.sandbox.world.voice import set_voice_state

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world.models import Guild, Message, User
    from townsquare.sandbox.world.state import World

__all__ = ["UNSET", "Unset", "ban", "join_guild", "leave_guild", "unban", "update_member"]


class Unset(enum.Enum):
    """A field a change leaves as it is (None is a value: no nick, no timeout)."""

    UNSET = enum.auto()


UNSET: typing.Final = Unset.UNSET


def join_guild(world: World, guild: Guild, user: User) -> Member:
    """`user` joins `guild` with no roles; GUILD_MEMBER_ADD."""
    member = Member(user.id, guild.id, world.clock())
    guild.members[user.id] = member
    data = world.member_payload(member) | {"guild_id": str(guild.id)}
    world.emit(Dispatch("GUILD_MEMBER_ADD", guild.id, Intent.GUILD_MEMBERS, data))
    return member


def leave_guild(world: World, guild: Guild, member: Member) -> None:
    """The member leaves (or is kicked): out of voice first, then GUILD_MEMBER_REMOVE."""
    if member.user_id in guild.voice_states:
        set_voice_state(world, guild, member, None)
    del guild.members[member.user_id]
    data = {"guild_id": str(guild.id), "user": payloads.user_payload(world.users[member.user_id])}
    world.emit(Dispatch("GUILD_MEMBER_REMOVE", guild.id, Intent.GUILD_MEMBERS, data))


def update_member(
    world: World,
    guild: Guild,
    member: Member,
    *,
    nick: str | Unset | None = UNSET,
    communication_disabled_until: datetime.datetime | Unset | None = UNSET,
    role_ids: list[int] | None = None,
) -> None:
    """Change nick, timeout and/or roles; one GUILD_MEMBER_UPDATE if anything changed."""
    changed = False
    if role_ids is not None and role_ids != member.role_ids:
        member.role_ids = list(role_ids)
        changed = True
    if not isinstance(nick, Unset) and nick != member.nick:
        member.nick = nick
        changed = True
    until = communication_disabled_until
    if not isinstance(until, Unset) and until != member.communication_disabled_until:
        member.communication_disabled_until = until
        changed = True
    if changed:
        world.emit_member_update(guild, member)


def ban(
    world: World, guild: Guild, user: User, *, delete_message_seconds: int, reason: str | None
) -> None:
    """GUILD_BAN_ADD; the member (if any) is removed and their recent messages deleted.

    As on Discord, the deleted messages go out as one MESSAGE_DELETE_BULK per channel.
    """
    guild.bans[user.id] = Ban(user.id, reason)
    data = {"guild_id": str(guild.id), "user": payloads.user_payload(user)}
    world.emit(Dispatch("GUILD_BAN_ADD", guild.id, Intent.GUILD_MODERATION, data))
    if (member := guild.members.get(user.id)) is not None:
        leave_guild(world, guild, member)
    if delete_message_seconds > 0:
        since = world.clock() - datetime.timedelta(seconds=delete_message_seconds)
        doomed = [
            m
            for m in world.messages.values()
            if m.guild_id == guild.id and m.author_id == user.id and m.timestamp >= since
        ]
        by_channel: dict[int, list[Message]] = {}
        for message in doomed:
            by_channel.setdefault(message.channel_id, []).append(message)
        for channel_id, messages in by_channel.items():
            world.delete_messages(guild.channels[channel_id], messages)


def unban(world: World, guild: Guild, user: User) -> None:
    """GUILD_BAN_REMOVE."""
    del guild.bans[user.id]
    data = {"guild_id": str(guild.id), "user": payloads.user_payload(user)}
    world.emit(Dispatch("GUILD_BAN_REMOVE", guild.id, Intent.GUILD_MODERATION, data))
