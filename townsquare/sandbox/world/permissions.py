"""Discord's permission bits and how a member's effective permissions are computed.

Follows Discord's documented algorithm: base permissions from @everyone and the member's roles
(ADMINISTRATOR and ownership grant everything), then channel overwrites in the order
@everyone, roles, member.
"""

from __future__ import annotations

import enum
import functools
import operator
import typing

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world.models import Channel, Guild, Member

__all__ = ["Permission", "channel_permissions", "guild_permissions", "top_role_position"]


class Permission(enum.IntFlag):
    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    PRIORITY_SPEAKER = 1 << 8
    STREAM = 1 << 9
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    MUTE_MEMBERS = 1 << 22
    DEAFEN_MEMBERS = 1 << 23
    MOVE_MEMBERS = 1 << 24
    USE_VAD = 1 << 25
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    USE_APPLICATION_COMMANDS = 1 << 31
    MODERATE_MEMBERS = 1 << 40

    @classmethod
    def parse(cls, names: typing.Iterable[str]) -> int:
        """The bitfield of permission names, e.g. `["VIEW_CHANNEL", "SEND_MESSAGES"]`."""
        try:
            return functools.reduce(operator.or_, (int(cls[name]) for name in names), 0)
        except KeyError as exc:
            msg = f"unknown permission {exc.args[0]!r}"
            raise ValueError(msg) from None


ALL_PERMISSIONS: typing.Final[int] = functools.reduce(operator.or_, (int(p) for p in Permission), 0)


def guild_permissions(guild: Guild, member: Member) -> int:
    """The member's guild-wide permissions."""
    if member.user_id == guild.owner_id:
        return ALL_PERMISSIONS
    permissions = guild.everyone_role.permissions
    for role_id in member.role_ids:
        if role := guild.roles.get(role_id):
            permissions |= role.permissions
    if permissions & Permission.ADMINISTRATOR:
        return ALL_PERMISSIONS
    return permissions


def channel_permissions(guild: Guild, channel: Channel, member: Member) -> int:
    """The member's permissions in one channel, overwrites applied."""
    permissions = guild_permissions(guild, member)
    if permissions & Permission.ADMINISTRATOR:
        return permissions
    overwrites = {(o.type, o.id): o for o in channel.overwrites}
    if everyone := overwrites.get((0, guild.id)):
        permissions = (permissions & ~everyone.deny) | everyone.allow
    allow = deny = 0
    for role_id in member.role_ids:
        if overwrite := overwrites.get((0, role_id)):
            allow |= overwrite.allow
            deny |= overwrite.deny
    permissions = (permissions & ~deny) | allow
    if own := overwrites.get((1, member.user_id)):
        permissions = (permissions & ~own.deny) | own.allow
    return permissions


def top_role_position(guild: Guild, member: Member) -> int:
    """The position of the member's highest role (0 for @everyone only)."""
    positions = [guild.roles[r].position for r in member.role_ids if r in guild.roles]
    return max(positions, default=0)
