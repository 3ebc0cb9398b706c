"""`/api/v1` XP routes: a guild's level-role rewards (JSON), for its managers.

Authorized like every `/api/v1` guild route (:func:`~townsquare.http.blueprints.api_blueprint`);
the rules are the domain's (:mod:`..domain.rewards`, the reward role's too), and a refused
change (:class:`~..domain.errors.RewardError`) is answered as an API error here. The guild's
roles are asked of Discord first (503 `discord_unavailable` when Discord cannot be asked).
"""

from __future__ import annotations

from pydantic import BaseModel
from quart import Response, g
from quart_schema import validate_request, validate_response

from townsquare.features.xp.domain.config import XPSection
from townsquare.features.xp.domain.errors import RewardError
from townsquare.features.xp.domain.rewards import (
    NewReward,
    RewardOut,
    add_reward,
    list_rewards,
    remove_reward,
)
from townsquare.features.xp.web.dashboard import reward_api_error, session_actor
from townsquare.http.blueprints import API_READ, API_WRITE, api_blueprint
from townsquare.http.config_changes import read_config, role_facts
from townsquare.http.openapi import errors, non_json_response
from townsquare.http.state import state

__all__ = ["RewardList", "blueprint"]

blueprint = api_blueprint("xp_api", __name__)


class RewardList(BaseModel):
    rewards: list[RewardOut]


@blueprint.get("/guilds/<id:guild_id>/level-rewards")
@API_READ
@validate_response(RewardList)
@errors(401, 403, 404, 502)
async def get_rewards(guild_id: int) -> RewardList:
    """The guild's level-role rewards."""
    return RewardList(rewards=await list_rewards(guild_id))


@blueprint.post("/guilds/<id:guild_id>/level-rewards")
@API_WRITE
@validate_request(NewReward)
@validate_response(RewardOut, 201)
@errors(400, 401, 402, 403, 404, 409, 413, 415, 502, 503)
async def post_reward(guild_id: int, data: NewReward) -> tuple[RewardOut, int]:
    """Add a level-role reward; 409 when it exists or the server has the most it may, 402
    `premium_required` past the tier's `xp.level_rewards` (docs/premium.md).

    400 for a level above the server's `xp.max_level`, or a role the bot cannot give: not the
    server's, @everyone, a managed role, or one not below the bot's highest role; 400
    `dangerous_role` for a role granting a dangerous permission (Administrator, Manage Server,
    Ban Members ...) unless `confirm_dangerous` is true. 503
    `discord_unavailable` when Discord cannot be asked about the role.
    """
    max_level = (await read_config(guild_id)).config.section(XPSection).max_level
    roles = await role_facts(guild_id, when_unknown="refuse")
    actor = session_actor(g.ts_session)
    try:
        reward = await add_reward(
            guild_id, data, max_level, actor, roles=roles, gate=state().require_gate()
        )
    except RewardError as refused:
        raise reward_api_error(refused) from None
    return reward, 201


@blueprint.delete("/guilds/<id:guild_id>/level-rewards/<id:reward_id>")
@API_WRITE
@non_json_response(204, "removed (no body)")
@errors(401, 403, 404, 502)
async def delete_reward(guild_id: int, reward_id: int) -> Response:
    """Remove a level-role reward."""
    try:
        await remove_reward(guild_id, reward_id, session_actor(g.ts_session))
    except RewardError as refused:
        raise reward_api_error(refused) from None
    return Response(status=204)
