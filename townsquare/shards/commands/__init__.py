"""Slash commands and buttons on the shards' `GatewayBot` (hikari-arc and hikari-miru).

`/rank`, `/leaderboard`, the `/xp` admin group and `/config show` check Discord permissions and
whether the feature is on (the Redis config cache), then ask the HTTP service's internal API
(`townsquare.shards.api_client`, flow 2). See `docs/commands.md`.
"""

from __future__ import annotations

from townsquare.shards.commands.client import CommandClients, attach_commands, command_guild_ids
from townsquare.shards.commands.services import CommandServices

__all__ = ["CommandClients", "CommandServices", "attach_commands", "command_guild_ids"]
