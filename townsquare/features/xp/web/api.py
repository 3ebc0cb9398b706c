"""`/api/v1` XP routes: a guild's level-role rewards (JSON), for its managers.

Authorized like every `/api/v1` guild route (:func:`~townsquare.http.blueprints.api_blueprint`);
the rules are the domain's, and a refused change is answered as an API error.
"""

from __future__ import annotations

from pydantic import BaseModel
from quart import Response, g
from quart_schema import validate_request, validate_response

from townsquare.features.xp.domain.errors import RewardError
from townsquare.features.xp.domain.rewards import (
    NewReward,
    RewardOut,
    add_reward,
    list_rewards,
    remove_reward,
)
from townsquare.features.xp.web.dashboard import reward_api_error, session_actor
from townsquare.http.blueprints import api_blueprint
from townsquare.http.config_changes import read_config

__all__ = ["RewardList", "blueprint"]

blueprint = api_blueprint("xp_api", __name__)


class RewardList(BaseModel):
    rewards: list[RewardOut]


@blueprint.get("/guilds/<int:guild_id>/level-rewards")
@validate_response(RewardList)
async def get_rewards(guild_id: int) -> RewardList:
    """The guild's level-role rewards."""
    return RewardList(rewards=await list_rewards(guild_id))


@blueprint.post("/guilds/<int:guild_id>/level-rewards")
@validate_request(NewReward)
@validate_response(RewardOut, 201)
async def post_reward(guild_id: int, data: NewReward) -> tuple[RewardOut, int]:
    """Add a level-role reward; 409 when it exists."""
    max_level = (await read_config(guild_id)).config.xp.max_level
    try:
        return await add_reward(guild_id, data, max_level, session_actor(g.ts_session)), 201
    except RewardError as refused:
        raise reward_api_error(refused) from None


@blueprint.delete("/guilds/<int:guild_id>/level-rewards/<int:reward_id>")
async def delete_reward(guild_id: int, reward_id: int) -> Response:
    """Remove a level-role reward."""
    try:
        await remove_reward(guild_id, reward_id, session_actor(g.ts_session))
    except RewardError as refused:
        raise reward_api_error(refused) from None
    return Response(status=204)
