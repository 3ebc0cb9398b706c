"""Slash commands and buttons on the shards' `GatewayBot` (hikari-arc and hikari-miru).

The commands are the enabled features' (their `commands` modules' `PLUGINS`); this package is
what they share: the clients, `CommandServices` (permission check, the Redis config cache, the
internal API client, flow 2), `answer` and confirmations. See `docs/commands.md`.
"""

from __future__ import annotations

from townsquare.shards.commands.client import CommandClients, attach_commands, command_guild_ids
from townsquare.shards.commands.services import CommandServices

__all__ = ["CommandClients", "CommandServices", "attach_commands", "command_guild_ids"]
