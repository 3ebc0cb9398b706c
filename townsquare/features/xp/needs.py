"""What the XP feature needs of a guild beyond permissions (`NEEDS`, see `Feature.needs`): the
level rewards' roles, which the bot gives and takes, so they must sit below its highest role."""

from __future__ import annotations

import typing

from townsquare.core.doctor import Needs
from townsquare.features.xp.domain.models import LevelReward

if typing.TYPE_CHECKING:
    from townsquare.core.config.schemas import GuildConfig

__all__ = ["NEEDS"]


async def NEEDS(guild_id: int, config: GuildConfig) -> Needs:
    rewards = await LevelReward.filter(guild_id=guild_id).order_by("level").all()
    return Needs(roles={reward.role_id: f"the level {reward.level} reward" for reward in rewards})
