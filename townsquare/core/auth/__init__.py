"""Who may do what: Discord permission math for the dashboard and commands."""

from __future__ import annotations

from townsquare.core.auth.permissions import (
    ADMINISTRATOR,
    MANAGE_GUILD,
    ManageableGuild,
    can_manage,
    manageable_guilds,
)

__all__ = ["ADMINISTRATOR", "MANAGE_GUILD", "ManageableGuild", "can_manage", "manageable_guilds"]
