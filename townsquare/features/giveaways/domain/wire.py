"""Bodies of the giveaways' internal API (`/internal/v1`): what the shards send and get back."""

from __future__ import annotations

import datetime
import typing
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from townsquare.core.validation import Snowflake

if typing.TYPE_CHECKING:
    from townsquare.features.giveaways.domain.models import Giveaway

__all__ = ["ClaimAnswer", "ClaimBody", "GiveawayList", "GiveawayShown", "RerollBody"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GiveawayShown(_Body):
    """One giveaway as the commands show it (never its seed before the draw)."""

    id: int
    guild_id: int
    channel_id: int
    message_id: int | None
    host_id: int
    prize: str
    winners: int
    state: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    seed_hash: str
    entry_count: int
    cancel_reason: str | None

    @classmethod
    def of(cls, giveaway: Giveaway, entry_count: int | None = None) -> GiveawayShown:
        return cls(
            id=giveaway.id,
            guild_id=giveaway.guild_id,
            channel_id=giveaway.channel_id,
            message_id=giveaway.message_id,
            host_id=giveaway.host_id,
            prize=giveaway.prize,
            winners=giveaway.winner_count,
            state=str(giveaway.state),
            starts_at=giveaway.starts_at,
            ends_at=giveaway.ends_at,
            seed_hash=giveaway.seed_hash,
            entry_count=giveaway.entry_count if entry_count is None else entry_count,
            cancel_reason=giveaway.cancel_reason,
        )


class GiveawayList(_Body):
    giveaways: list[GiveawayShown]


class RerollBody(_Body):
    count: Annotated[int, Field(ge=1, le=100)] = 1
    actor_id: Snowflake


class ClaimBody(_Body):
    user_id: Snowflake


class ClaimAnswer(_Body):
    outcome: typing.Literal["claimed", "already", "not_winner", "too_late", "gone"]
    prize: str
    guild_id: int
