"""Guild roles created, changed and deleted (as an admin would in the Discord client)."""

from __future__ import annotations

import typing

from townsquare.sandbox.intents import Intent
from townsquare.sandbox.world import payloads
from townsquare.sandbox.world.models import Role
from townsquare.sandbox.world.state import Dispatch

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world.models import Guild
    from townsquare.sandbox.world.state import World

__all__ = ["create_role", "delete_role", "update_role"]


def create_role(
    world: World,
    guild: Guild,
    *,
    name: str,
    permissions: int = 0,
    color: int = 0,
    hoist: bool = False,
    mentionable: bool = False,
    position: int = 1,
) -> Role:
    """A new role at `position` (1: just above @everyone); roles at or above it move up.

    GUILD_ROLE_CREATE for the new role, then GUILD_ROLE_UPDATE for each role that moved.
    """
    position = max(1, min(position, len(guild.roles)))
    moved = [r for r in guild.roles.values() if r.id != guild.id and r.position >= position]
    for role in moved:
        role.position += 1
    role = Role(
        world.snowflakes.next(),
        guild.id,
        name,
        permissions,
        position,
        color=color,
        hoist=hoist,
        mentionable=mentionable,
    )
    guild.roles[role.id] = role
    _emit(world, guild, "GUILD_ROLE_CREATE", role)
    for other in sorted(moved, key=lambda r: r.position):
        _emit(world, guild, "GUILD_ROLE_UPDATE", other)
    return role


def update_role(
    world: World,
    guild: Guild,
    role: Role,
    *,
    name: str | None = None,
    permissions: int | None = None,
    color: int | None = None,
    hoist: bool | None = None,
    mentionable: bool | None = None,
) -> Role:
    """Change the given fields; GUILD_ROLE_UPDATE."""
    if name is not None:
        role.name = name
    if permissions is not None:
        role.permissions = permissions
    if color is not None:
        role.color = color
    if hoist is not None:
        role.hoist = hoist
    if mentionable is not None:
        role.mentionable = mentionable
    _emit(world, guild, "GUILD_ROLE_UPDATE", role)
    return role


def delete_role(world: World, guild: Guild, role: Role) -> None:
    """GUILD_ROLE_DELETE; members and channel overwrites lose the role, roles above move down."""
    del guild.roles[role.id]
    for member in guild.members.values():
        if role.id in member.role_ids:
            member.role_ids.remove(role.id)
    for channel in guild.channels.values():
        channel.overwrites = [
            o for o in channel.overwrites if not (o.type == 0 and o.id == role.id)
        ]
    for other in guild.roles.values():
        if other.id != guild.id and other.position > role.position:
            other.position -= 1
    data = {"guild_id": str(guild.id), "role_id": str(role.id)}
    world.emit(Dispatch("GUILD_ROLE_DELETE", guild.id, Intent.GUILDS, data))


def _emit(world: World, guild: Guild, name: str, role: Role) -> None:
    data = {"guild_id": str(guild.id), "role": payloads.role_payload(role)}
    world.emit(Dispatch(name, guild.id, Intent.GUILDS, data))
