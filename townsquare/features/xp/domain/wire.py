"""The XP feature's bodies on the internal API (`/internal/v1`): shards ask, http answers."""

from __future__ import annotations

import typing

from pydantic import BaseModel, Field

from townsquare.core.commands_api import Actor, Body
from townsquare.core.validation import Snowflake  # noqa: TC001 - pydantic reads it
from townsquare.features.xp.domain.config import MAX_LEVEL
from townsquare.features.xp.domain.rank_card import rank_card_for

if typing.TYPE_CHECKING:
    from townsquare.features.xp.domain.curve import Curve
    from townsquare.features.xp.domain.leaderboard import MemberStanding

__all__ = [
    "MAX_AMOUNT",
    "GuildReset",
    "LeaderboardEntry",
    "LeaderboardPage",
    "MemberRank",
    "MemberReset",
    "RankBackground",
    "RankFields",
    "RewardChange",
    "RewardListing",
    "RewardShown",
    "XPChange",
    "XPChanged",
]

MAX_AMOUNT: typing.Final = 1_000_000_000
"""The most XP one admin command may add, remove or set."""


class XPChange(Actor):
    """Body of `POST .../members/{user_id}/xp/{add|remove|set}`."""

    amount: typing.Annotated[int, Field(ge=0, le=MAX_AMOUNT)]


class XPChanged(Body):
    user_id: int
    xp: int
    """The member's new total."""
    level: int


class MemberReset(Body):
    user_id: int


class GuildReset(Body):
    members: int
    """How many members were reset."""


class LeaderboardEntry(Body):
    rank: int
    user_id: int
    xp: int
    level: int


class LeaderboardPage(Body):
    page: int
    pages: int
    ranked: int
    entries: list[LeaderboardEntry]


class RankFields(BaseModel):
    """What a rank card shows, but the member's name: the internal and the public answer."""

    xp: int
    level: int
    rank: int | None
    """None for a member without XP."""
    ranked: int
    level_start_xp: int
    next_level_xp: int | None
    """None at the guild's highest level."""

    @classmethod
    def of(cls, standing: MemberStanding, curve: Curve, **ids: int | str) -> typing.Self:
        """The fields of `standing` on `curve`, with the answer's own ids."""
        card = rank_card_for("", standing.xp, standing.rank, curve)
        return cls(
            xp=standing.xp,
            level=standing.level,
            rank=standing.rank,
            ranked=standing.ranked,
            level_start_xp=card.level_start_xp,
            next_level_xp=card.next_level_xp,
            **ids,
        )


class MemberRank(RankFields, Body):
    """What `/rank` shows, but the member's name (the shard knows it)."""

    user_id: int
    background: str | None = None
    """The version of the guild's custom background when its tier includes one (the shard
    fetches `.../rank-card-background` once per version); None: the standard card."""


class RankBackground(Body):
    """Body of `GET .../rank-card-background`: the guild's background, JPEG in base64."""

    version: str
    image: str


class RewardChange(Actor):
    """Body of `POST .../level-rewards` and `POST .../level-rewards/remove` (`/level-rewards`)."""

    level: typing.Annotated[int, Field(ge=1, le=MAX_LEVEL)]
    role_id: Snowflake


class RewardShown(Body):
    level: int
    role_id: str
    paused: bool
    """Past the tier's `xp.level_rewards` limit: kept, but not given (docs/premium.md)."""


class RewardListing(Body):
    rewards: list[RewardShown]
    limit: int | None
    """The tier's `xp.level_rewards` (None: no limit)."""
    explain: str
    """The gate's sentence ("3 of 10 level rewards on Free.")."""
