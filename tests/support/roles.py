"""A guild's roles as Discord's facts describe them, for the rules on roles (no sandbox)."""

from __future__ import annotations

from townsquare.core.config.references import GuildRole, GuildRoles

__all__ = ["four_roles"]


def four_roles(guild: int) -> GuildRoles:
    """@everyone, Admin (above the bot), the bot's own managed role (its highest), Regular."""
    roles = (
        GuildRole(guild, "@everyone", 0, managed=False),
        GuildRole(10, "Admin", 5, managed=False),
        GuildRole(11, "Bot", 4, managed=True),
        GuildRole(12, "Regular", 2, managed=False),
    )
    return GuildRoles(guild, roles, bot_top=roles[2])
