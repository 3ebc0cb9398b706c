"""`/internal/v1` XP routes: what `/rank`, `/leaderboard` and `/xp` ask for (flow 2).

Behind the service token (:func:`~townsquare.http.blueprints.internal_blueprint`). The work is
the XP domain's: totals and the leaderboard in Redis, audit entries in PostgreSQL. Every route
answers 409 `xp_disabled` when the guild has XP turned off.
"""

from __future__ import annotations

import typing

from quart import request
from quart_schema import hide, validate_request

from townsquare.core.audit.models import ActorKind
from townsquare.core.audit.service import Actor as AuditActor
from townsquare.core.commands_api import Actor as ActorBody
from townsquare.features.xp.domain import admin, leaderboard
from townsquare.features.xp.domain.curve import enabled_curve
from townsquare.features.xp.domain.errors import XPDisabledError
from townsquare.features.xp.domain.wire import (
    GuildReset,
    LeaderboardEntry,
    LeaderboardPage,
    MemberRank,
    MemberReset,
    XPChange,
    XPChanged,
)
from townsquare.http.blueprints import internal_blueprint
from townsquare.http.config_changes import read_config
from townsquare.http.errors import APIError
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from townsquare.features.xp.domain.curve import Curve

__all__ = ["blueprint"]

blueprint = internal_blueprint("xp_internal", __name__)

type Operation = typing.Literal["add", "remove", "set"]


async def _xp_curve(guild_id: int) -> Curve:
    try:
        return enabled_curve((await read_config(guild_id)).config.xp)
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
    return MemberRank.of(standing, curve, user_id=user_id).model_dump(mode="json"), 200


async def _change(guild_id: int, user_id: int, operation: Operation, body: XPChange) -> XPChanged:
    curve = await _xp_curve(guild_id)
    change = {"add": admin.add_xp, "remove": admin.remove_xp, "set": admin.set_xp}[operation]
    app_state = state()
    total = await change(
        app_state.require_redis(),
        app_state.keyspace,
        guild_id,
        user_id,
        body.amount,
        curve=curve,
        actor=_audit_actor(body),
    )
    return XPChanged(user_id=user_id, xp=total, level=curve.level_for(total))


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
    curve = await _xp_curve(guild_id)
    app_state = state()
    await admin.reset_member(
        app_state.require_redis(),
        app_state.keyspace,
        guild_id,
        user_id,
        curve=curve,
        actor=_audit_actor(data),
    )
    return MemberReset(user_id=user_id).model_dump(mode="json")


@blueprint.post("/guilds/<id:guild_id>/xp/reset")
@hide
@validate_request(ActorBody)
async def xp_reset_guild(guild_id: int, data: ActorBody) -> dict[str, typing.Any]:
    curve = await _xp_curve(guild_id)
    app_state = state()
    count = await admin.reset_guild(
        app_state.require_redis(),
        app_state.keyspace,
        guild_id,
        curve=curve,
        actor=_audit_actor(data),
    )
    return GuildReset(members=count).model_dump(mode="json")
