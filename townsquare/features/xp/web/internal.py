"""`/internal/v1` XP routes: what `/rank`, `/leaderboard` and `/xp` ask for (flow 2).

Behind the service token (:func:`~townsquare.http.blueprints.internal_blueprint`). The work is
the XP domain's: totals and the leaderboard in Redis, audit entries in PostgreSQL. Every route
answers 409 `xp_disabled` when the guild has XP turned off.
"""

from __future__ import annotations

import base64
import typing

from quart import request
from quart_schema import hide, validate_request

from townsquare.core.audit.models import ActorKind
from townsquare.core.audit.service import Actor as AuditActor
from townsquare.core.commands_api import Actor as ActorBody
from townsquare.features.xp.domain import admin, leaderboard
from townsquare.features.xp.domain.backgrounds import (
    BACKGROUND_LIMIT,
    background_version,
    load_background,
)
from townsquare.features.xp.domain.config import XPSection
from townsquare.features.xp.domain.curve import enabled_curve
from townsquare.features.xp.domain.errors import RewardError, XPDisabledError
from townsquare.features.xp.domain.models import LevelReward
from townsquare.features.xp.domain.rewards import (
    LEVEL_REWARDS_LIMIT,
    NewReward,
    active_rewards,
    add_reward,
    remove_reward,
)
from townsquare.features.xp.domain.wire import (
    GuildReset,
    LeaderboardEntry,
    LeaderboardPage,
    MemberRank,
    MemberReset,
    RankBackground,
    RewardChange,
    RewardListing,
    RewardShown,
    XPChange,
    XPChanged,
)
from townsquare.http.blueprints import internal_blueprint
from townsquare.http.config_changes import read_config, role_facts
from townsquare.http.errors import APIError
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from townsquare.features.xp.domain.curve import Curve

__all__ = ["blueprint"]

blueprint = internal_blueprint("xp_internal", __name__)

type Operation = typing.Literal["add", "remove", "set"]


async def _xp_curve(guild_id: int) -> Curve:
    try:
        return enabled_curve((await read_config(guild_id)).config.section(XPSection))
    except XPDisabledError as error:
        raise APIError(409, "xp_disabled", str(error)) from None


def _audit_actor(body: ActorBody) -> AuditActor:
    return AuditActor(ActorKind.USER, body.actor_id, body.actor_name)


@blueprint.get("/guilds/<id:guild_id>/leaderboard")
@hide
async def leaderboard_page(guild_id: int) -> tuple[dict[str, typing.Any], int]:
    raw_page = request.args.get("page", "1")
    if not raw_page.isdecimal() or int(raw_page) < 1:
        raise APIError(400, "invalid_query", "bad page", {"page": ["a whole number from 1"]})
    curve = await _xp_curve(guild_id)
    app_state = state()
    try:
        board = await leaderboard.leaderboard_page(
            app_state.require_redis(), app_state.keyspace, guild_id, int(raw_page), curve=curve
        )
    except leaderboard.PageOutOfRangeError as error:
        body = APIError(404, "page_out_of_range", str(error)).body()
        return body | {"pages": error.pages}, 404
    out = LeaderboardPage(
        page=board.page,
        pages=board.pages,
        ranked=board.ranked,
        entries=[
            LeaderboardEntry(rank=e.rank, user_id=e.user_id, xp=e.xp, level=e.level)
            for e in board.entries
        ],
    )
    return out.model_dump(mode="json"), 200


@blueprint.get("/guilds/<id:guild_id>/members/<id:user_id>/rank")
@hide
async def member_rank(guild_id: int, user_id: int) -> tuple[dict[str, typing.Any], int]:
    curve = await _xp_curve(guild_id)
    app_state = state()
    standing = await leaderboard.member_standing(
        app_state.require_redis(), app_state.keyspace, guild_id, user_id, curve=curve
    )
    shown = MemberRank.of(standing, curve, user_id=user_id)
    if (await app_state.require_gate().may(guild_id, BACKGROUND_LIMIT)).allowed:
        shown = shown.model_copy(update={"background": await background_version(guild_id)})
    return shown.model_dump(mode="json"), 200


@blueprint.get("/guilds/<id:guild_id>/rank-card-background")
@hide
async def rank_card_background(guild_id: int) -> dict[str, typing.Any]:
    """The guild's custom background for `/rank` (404 `no_background` without one)."""
    found = await load_background(guild_id)
    if found is None:
        raise APIError(404, "no_background", "this server has no rank-card background")
    version, image = found
    return RankBackground(version=version, image=base64.b64encode(image).decode()).model_dump()


async def _admin(guild_id: int, body: ActorBody) -> admin.GuildXPAdmin:
    """The guild's XP changes as the body's actor makes them (refused when XP is off)."""
    app_state = state()
    return admin.GuildXPAdmin(
        app_state.require_redis(),
        app_state.keyspace,
        guild_id,
        await _xp_curve(guild_id),
        _audit_actor(body),
    )


async def _change(guild_id: int, user_id: int, operation: Operation, body: XPChange) -> XPChanged:
    xp_admin = await _admin(guild_id, body)
    change = {"add": xp_admin.add, "remove": xp_admin.remove, "set": xp_admin.set}[operation]
    total = await change(user_id, body.amount)
    return XPChanged(user_id=user_id, xp=total, level=xp_admin.curve.level_for(total))


@blueprint.post("/guilds/<id:guild_id>/members/<id:user_id>/xp/add")
@hide
@validate_request(XPChange)
async def xp_add(guild_id: int, user_id: int, data: XPChange) -> dict[str, typing.Any]:
    return (await _change(guild_id, user_id, "add", data)).model_dump(mode="json")


@blueprint.post("/guilds/<id:guild_id>/members/<id:user_id>/xp/remove")
@hide
@validate_request(XPChange)
async def xp_remove(guild_id: int, user_id: int, data: XPChange) -> dict[str, typing.Any]:
    return (await _change(guild_id, user_id, "remove", data)).model_dump(mode="json")


@blueprint.post("/guilds/<id:guild_id>/members/<id:user_id>/xp/set")
@hide
@validate_request(XPChange)
async def xp_set(guild_id: int, user_id: int, data: XPChange) -> dict[str, typing.Any]:
    return (await _change(guild_id, user_id, "set", data)).model_dump(mode="json")


@blueprint.post("/guilds/<id:guild_id>/members/<id:user_id>/xp/reset")
@hide
@validate_request(ActorBody)
async def xp_reset_member(guild_id: int, user_id: int, data: ActorBody) -> dict[str, typing.Any]:
    await (await _admin(guild_id, data)).reset_member(user_id)
    return MemberReset(user_id=user_id).model_dump(mode="json")


@blueprint.post("/guilds/<id:guild_id>/xp/reset")
@hide
@validate_request(ActorBody)
async def xp_reset_guild(guild_id: int, data: ActorBody) -> dict[str, typing.Any]:
    count = await (await _admin(guild_id, data)).reset_guild()
    return GuildReset(members=count).model_dump(mode="json")


def _reward_error(error: RewardError) -> APIError:
    """A refused reward change, for the invoker: 409 with the reason (the shard shows it)."""
    reasons = [message for messages in (error.fields or {}).values() for message in messages]
    shown = "; ".join(reasons) or error.message
    if error.code == "dangerous_role":  # a command has no confirmation step; the dashboard has
        shown = f"{error.message}. To give it anyway, add the reward on the dashboard, which "
        shown += "asks you to confirm; or pick another role."
    return APIError(409, error.code, shown)


@blueprint.get("/guilds/<id:guild_id>/level-rewards")
@hide
async def reward_list(guild_id: int) -> dict[str, typing.Any]:
    """The guild's rewards, lowest level first, with the ones paused past the tier's limit."""
    rows = await LevelReward.filter(guild_id=guild_id)
    gate = state().require_gate()
    limit = await gate.value(guild_id, LEVEL_REWARDS_LIMIT)
    active = {row.id for row in active_rewards(rows, limit)}
    verdict = await gate.may(guild_id, LEVEL_REWARDS_LIMIT, usage=len(rows), adding=0)
    shown = [
        RewardShown(level=row.level, role_id=str(row.role_id), paused=row.id not in active)
        for row in active_rewards(rows, None)
    ]
    listing = RewardListing(
        rewards=shown, limit=limit if isinstance(limit, int) else None, explain=verdict.explain()
    )
    return listing.model_dump(mode="json")


@blueprint.post("/guilds/<id:guild_id>/level-rewards")
@hide
@validate_request(RewardChange)
async def reward_add(guild_id: int, data: RewardChange) -> tuple[dict[str, typing.Any], int]:
    """Add a reward for `/level-rewards add`: 402 `premium_required` past the tier's limit."""
    max_level = (await read_config(guild_id)).config.section(XPSection).max_level
    # The role comes from Discord's own role picker; when Discord cannot be asked right now,
    # its other facts (above the bot, managed) are left to the level job's alert.
    roles = await role_facts(guild_id, when_unknown="accept")
    new = NewReward(level=data.level, role_id=data.role_id)
    try:
        reward = await add_reward(
            guild_id, new, max_level, _audit_actor(data), roles=roles, gate=state().require_gate()
        )
    except RewardError as refused:
        raise _reward_error(refused) from None
    return reward.model_dump(mode="json"), 201


@blueprint.post("/guilds/<id:guild_id>/level-rewards/remove")
@hide
@validate_request(RewardChange)
async def reward_remove(guild_id: int, data: RewardChange) -> dict[str, typing.Any]:
    """Remove the reward of `role_id` at `level` for `/level-rewards remove`."""
    row = await LevelReward.filter(
        guild_id=guild_id, level=data.level, role_id=data.role_id
    ).first()
    if row is None:
        raise APIError(409, "reward_not_found", "There is no such reward on this server.")
    try:
        await remove_reward(guild_id, row.id, _audit_actor(data))
    except RewardError as refused:
        raise _reward_error(refused) from None
    return {"removed": True}
