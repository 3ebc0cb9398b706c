"""The XP commands' calls to the internal API (`/internal/v1`, routes in `..web.internal`)."""

from __future__ import annotations

import typing

from townsquare.features.xp.domain.wire import (
    GuildReset,
    LeaderboardPage,
    MemberRank,
    RankBackground,
    RewardListing,
    XPChanged,
)

if typing.TYPE_CHECKING:
    from townsquare.shards.api_client import InternalAPIClient

__all__ = ["Operation", "XPClient"]

type Operation = typing.Literal["add", "remove", "set"]


class XPClient:
    """Typed XP calls over the shard's internal API client (its retries and breaker)."""

    __slots__ = ("_api",)

    def __init__(self, api: InternalAPIClient) -> None:
        self._api = api

    async def leaderboard(self, guild_id: int, page: int) -> LeaderboardPage:
        body = await self._api.request(
            "GET", f"/guilds/{guild_id}/leaderboard", params={"page": str(page)}
        )
        return LeaderboardPage.model_validate(body)

    async def member_rank(self, guild_id: int, user_id: int) -> MemberRank:
        body = await self._api.request("GET", f"/guilds/{guild_id}/members/{user_id}/rank")
        return MemberRank.model_validate(body)

    async def change_xp(
        self,
        operation: Operation,
        guild_id: int,
        user_id: int,
        amount: int,
        *,
        actor_id: int,
        actor_name: str,
    ) -> XPChanged:
        body = await self._api.request(
            "POST",
            f"/guilds/{guild_id}/members/{user_id}/xp/{operation}",
            json={"amount": amount, "actor_id": actor_id, "actor_name": actor_name},
        )
        return XPChanged.model_validate(body)

    async def reset_member(
        self, guild_id: int, user_id: int, *, actor_id: int, actor_name: str
    ) -> None:
        await self._api.request(
            "POST",
            f"/guilds/{guild_id}/members/{user_id}/xp/reset",
            json={"actor_id": actor_id, "actor_name": actor_name},
        )

    async def reset_guild(self, guild_id: int, *, actor_id: int, actor_name: str) -> GuildReset:
        body = await self._api.request(
            "POST",
            f"/guilds/{guild_id}/xp/reset",
            json={"actor_id": actor_id, "actor_name": actor_name},
        )
        return GuildReset.model_validate(body)

    async def rewards(self, guild_id: int) -> RewardListing:
        body = await self._api.request("GET", f"/guilds/{guild_id}/level-rewards")
        return RewardListing.model_validate(body)

    async def change_reward(
        self,
        operation: typing.Literal["add", "remove"],
        guild_id: int,
        level: int,
        role_id: int,
        *,
        actor_id: int,
        actor_name: str,
    ) -> None:
        path = f"/guilds/{guild_id}/level-rewards" + ("/remove" if operation == "remove" else "")
        body = {"level": level, "role_id": role_id, "actor_id": actor_id, "actor_name": actor_name}
        await self._api.request("POST", path, json=body)

    async def background(self, guild_id: int) -> RankBackground:
        body = await self._api.request("GET", f"/guilds/{guild_id}/rank-card-background")
        return RankBackground.model_validate(body)
