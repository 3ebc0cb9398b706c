"""The moderation commands' calls to the internal API (`/internal/v1`, in `..web.internal`)."""

from __future__ import annotations

import typing

from townsquare.features.moderation.domain.wire import ActionDone, CaseBody, CasePage

if typing.TYPE_CHECKING:
    from townsquare.shards.api_client import InternalAPIClient

__all__ = ["ModerationClient"]


class ModerationClient:
    """Typed moderation calls over the shard's internal API client (its retries and breaker)."""

    __slots__ = ("_api",)

    def __init__(self, api: InternalAPIClient) -> None:
        self._api = api

    async def act(self, guild_id: int, **body: typing.Any) -> ActionDone:
        answer = await self._api.request(
            "POST", f"/guilds/{guild_id}/moderation/actions", json=body
        )
        return ActionDone.model_validate(answer)

    async def member_cases(self, guild_id: int, user_id: int, page: int) -> CasePage:
        answer = await self._api.request(
            "GET",
            f"/guilds/{guild_id}/moderation/members/{user_id}/cases",
            params={"page": str(page)},
        )
        return CasePage.model_validate(answer)

    async def case(self, guild_id: int, number: int) -> CaseBody:
        answer = await self._api.request("GET", f"/guilds/{guild_id}/moderation/cases/{number}")
        return CaseBody.model_validate(answer)

    async def set_reason(
        self, guild_id: int, number: int, reason: str, *, actor_id: int, actor_name: str
    ) -> CaseBody:
        answer = await self._api.request(
            "PATCH",
            f"/guilds/{guild_id}/moderation/cases/{number}",
            json={"reason": reason, "actor_id": actor_id, "actor_name": actor_name},
        )
        return CaseBody.model_validate(answer)

    async def pardon(self, guild_id: int, number: int, **body: typing.Any) -> ActionDone:
        answer = await self._api.request(
            "POST", f"/guilds/{guild_id}/moderation/cases/{number}/pardon", json=body
        )
        return ActionDone.model_validate(answer)
