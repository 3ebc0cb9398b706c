"""The XP feature's slash commands (shard side): `/rank`, `/leaderboard`, the `/xp` group,
`/level-rewards`.

Each checks the invoker's right and that XP is on (the Redis config cache), then asks the HTTP
service's internal API (:mod:`.api`, routes in `townsquare.features.xp.web.internal`).
"""

from __future__ import annotations

import typing

from townsquare.features.xp.commands import admin, leaderboard, rank, rewards

__all__ = ["PLUGINS"]

PLUGINS: typing.Final = (rank.plugin, leaderboard.plugin, admin.plugin, rewards.plugin)
