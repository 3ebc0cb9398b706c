"""Lookups in the sandbox's world by the names the demo scenario gives (scenarios/demo.yaml)."""

from __future__ import annotations

import typing

if typing.TYPE_CHECKING:
    from townsquare.sandbox import Sandbox
    from townsquare.sandbox.world.models import Guild

__all__ = [
    "channel_named",
    "channels_by_name",
    "demo_guild",
    "role_named",
    "roles_by_name",
    "user_named",
]


def demo_guild(sandbox: Sandbox) -> Guild:
    """The scenario's first guild (the demo has one, "Town Square Demo")."""
    return next(iter(sandbox.world.guilds.values()))


def channel_named(guild: Guild, name: str) -> int:
    """The id of the guild's channel called `name`."""
    return next(c.id for c in guild.channels.values() if c.name == name)


def role_named(guild: Guild, name: str) -> int:
    """The id of the role called `name`, or whose name starts with `name` and a " · " (so
    "Level 5" finds "Level 5 · Newcomer" but not "Level 50 · Legend")."""
    return next(
        r.id for r in guild.roles.values() if r.name == name or r.name.startswith(f"{name} · ")
    )


def user_named(sandbox: Sandbox, username: str) -> int:
    """The id of the user with that username."""
    user = sandbox.world.user_named(username)
    assert user is not None, f"no user {username!r} in the sandbox's world"
    return user.id


def roles_by_name(sandbox: Sandbox, guild_id: int) -> dict[str, int]:
    """Name -> id of every role of the guild."""
    return {role.name: role.id for role in sandbox.world.guilds[guild_id].roles.values()}


def channels_by_name(sandbox: Sandbox, guild_id: int) -> dict[str, int]:
    """Name -> id of every channel of the guild."""
    return {c.name: c.id for c in sandbox.world.guilds[guild_id].channels.values()}
