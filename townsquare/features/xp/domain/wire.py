"""The XP feature's bodies on the internal API (`/internal/v1`): shards ask, http answers."""

from __future__ import annotations

import typing

from pydantic import Field

from townsquare.core.commands_api import Actor, Body

__all__ = [
    "MAX_AMOUNT",
    "GuildReset",
    "LeaderboardEntry",
    "LeaderboardPage",
    "MemberRank",
    "MemberReset",
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


class MemberRank(Body):
    """What a rank card shows, but the member's name (the shard knows it)."""

    user_id: int
    xp: int
    level: int
    rank: int | None
    ranked: int
    level_start_xp: int
    next_level_xp: int | None
