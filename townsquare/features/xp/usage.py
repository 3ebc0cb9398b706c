"""What a guild uses of the XP feature's premium limits (`USAGE`, see `Feature.usage`)."""

from __future__ import annotations

import typing

from townsquare.core.config.models import GuildConfigRecord
from townsquare.features.xp.domain.models import LevelReward
from townsquare.features.xp.domain.rewards import LEVEL_REWARDS_LIMIT

if typing.TYPE_CHECKING:
    from townsquare.core.premium import UsageCounter

__all__ = ["USAGE"]


async def _rewards(guild_id: int) -> int:
    return await LevelReward.filter(guild_id=guild_id).count()


async def _multipliers(guild_id: int) -> int:
    row = await GuildConfigRecord.filter(guild_id=guild_id).first()
    xp = row.document.get("xp", {}) if row is not None else {}
    return len(xp.get("role_multipliers", {})) + len(xp.get("channel_multipliers", {}))


USAGE: typing.Final[dict[str, UsageCounter]] = {
    LEVEL_REWARDS_LIMIT: _rewards,
    "xp.multiplier_rules": _multipliers,
}
