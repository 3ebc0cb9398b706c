"""What live alerts need of a guild beyond permissions (`NEEDS`, see `Feature.needs`): every
feed's channel, where the bot posts the live cards."""

from __future__ import annotations

import typing

from townsquare.core.doctor import Needs
from townsquare.features.streams.domain.models import Feed

if typing.TYPE_CHECKING:
    from townsquare.core.config.schemas import GuildConfig

__all__ = ["NEEDS"]


async def NEEDS(guild_id: int, config: GuildConfig) -> Needs:
    feeds = await Feed.filter(guild_id=guild_id).prefetch_related("creator").order_by("id")
    return Needs(
        channels={feed.channel_id: f"the live alert for {feed.creator.login}" for feed in feeds}
    )
