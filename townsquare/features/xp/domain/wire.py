"""The XP feature's bodies on the internal API (`/internal/v1`): shards ask, http answers."""

from __future__ import annotations

import typing

from pydantic import BaseModel, Field

from townsquare.core.commands_api import Actor, Body
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
    "RankFields",
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
