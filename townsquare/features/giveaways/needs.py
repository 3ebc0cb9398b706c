"""What giveaways need of a guild beyond permissions (`NEEDS`, see `Feature.needs`): the
channels of the giveaways still to post or edit (scheduled, running, drawing, claiming)."""

from __future__ import annotations

import typing

from townsquare.core.doctor import Needs
from townsquare.features.giveaways.domain.models import Giveaway, GiveawayState

if typing.TYPE_CHECKING:
    from townsquare.core.config.schemas import GuildConfig

__all__ = ["NEEDS"]

_LIVE: typing.Final = (
    GiveawayState.SCHEDULED,
    GiveawayState.RUNNING,
    GiveawayState.DRAWING,
    GiveawayState.CLAIMING,
)


async def NEEDS(guild_id: int, config: GuildConfig) -> Needs:
    giveaways = await Giveaway.filter(guild_id=guild_id, state__in=_LIVE).order_by("id")
    return Needs(
        channels={
            giveaway.channel_id: f"giveaway {giveaway.id} ({giveaway.prize})"
            for giveaway in giveaways
        }
    )
