"""The giveaway commands' calls to the internal API (`/internal/v1`, routes in `..web.internal`)."""

from __future__ import annotations

import asyncio
import typing

from townsquare.features.giveaways.domain.wire import ClaimAnswer, GiveawayList, GiveawayShown

if typing.TYPE_CHECKING:
    from townsquare.features.giveaways.domain.service import GiveawaySpec
    from townsquare.shards.api_client import InternalAPIClient

__all__ = ["GiveawaysClient"]

START_WAIT_SECONDS: typing.Final = 8.0
"""How long `/giveaway start` waits for a worker to post the message before it answers."""


class GiveawaysClient:
    """Typed giveaway calls over the shard's internal API client (its retries and breaker)."""

    __slots__ = ("_api",)

    def __init__(self, api: InternalAPIClient) -> None:
        self._api = api

    async def start(
        self, guild_id: int, spec: GiveawaySpec, *, idempotency_key: str | None = None
    ) -> GiveawayShown:
        """Create the giveaway; calls with one `idempotency_key` create it once."""
        body = await self._api.request(
            "POST",
            f"/guilds/{guild_id}/giveaways",
            json=spec.model_dump(mode="json"),
            idempotency_key=idempotency_key,
        )
        return GiveawayShown.model_validate(body)

    async def show(self, guild_id: int, giveaway_id: int) -> GiveawayShown:
        body = await self._api.request("GET", f"/guilds/{guild_id}/giveaways/{giveaway_id}")
        return GiveawayShown.model_validate(body)

    async def posted(self, guild_id: int, giveaway_id: int) -> GiveawayShown:
        """The giveaway once a worker has posted (or failed to post) its message, or as it is
        after :data:`START_WAIT_SECONDS`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_WAIT_SECONDS
        while True:
            shown = await self.show(guild_id, giveaway_id)
            if shown.state != "scheduled" or loop.time() >= deadline:
                return shown
            await asyncio.sleep(0.2)

    async def listing(self, guild_id: int, states: typing.Sequence[str]) -> GiveawayList:
        body = await self._api.request(
            "GET", f"/guilds/{guild_id}/giveaways", params={"state": ",".join(states)}
        )
        return GiveawayList.model_validate(body)

    async def act(
        self,
        guild_id: int,
        giveaway_id: int,
        action: str,
        body: dict[str, typing.Any] | None = None,
    ) -> GiveawayShown:
        answer = await self._api.request(
            "POST", f"/guilds/{guild_id}/giveaways/{giveaway_id}/{action}", json=body
        )
        return GiveawayShown.model_validate(answer)

    async def claim(self, giveaway_id: int, user_id: int) -> ClaimAnswer:
        body = await self._api.request(
            "POST", f"/giveaways/{giveaway_id}/claim", json={"user_id": user_id}
        )
        return ClaimAnswer.model_validate(body)
