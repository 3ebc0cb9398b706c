"""`/internal/v1`: what the shards' slash commands ask for (flow 2), behind the service token.

Every route needs `Authorization: Bearer <service token>` (401 otherwise); the token is
compared in constant time and never logged. Bodies are validated (400 with field errors);
the work itself is `townsquare.core`'s: the XP totals and leaderboard in Redis, the audit
entries and configuration in PostgreSQL (through the Redis config cache). XP routes answer
409 `xp_disabled` when the guild has XP turned off.
"""

from __future__ import annotations

import hmac
import typing

from quart import Blueprint, current_app, request
from quart_schema import hide, validate_request

from townsquare.core.audit.models import ActorKind
from townsquare.core.audit.service import Actor as AuditActor
from townsquare.core.commands_api import (
    PREFIX,
    ConfigShown,
    GuildReset,
    LeaderboardEntry,
    LeaderboardPage,
    MemberRank,
    MemberReset,
    XPChange,
    XPChanged,
    service_token,
)
from townsquare.core.commands_api import Actor as ActorBody
from townsquare.core.xp import admin, leaderboard
from townsquare.core.xp.curve import curve_for
from townsquare.core.xp.rank_card import rank_card_for
from townsquare.http.config_changes import read_config
from townsquare.http.errors import APIError
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from townsquare.core.xp.curve import Curve

__all__ = ["blueprint"]

blueprint = Blueprint("internal", __name__, url_prefix=PREFIX)

_EXPECTED_EXTENSION: typing.Final = "townsquare.internal"
type Operation = typing.Literal["add", "remove", "set"]


def _expected_token() -> bytes:
    token = current_app.extensions.get(_EXPECTED_EXTENSION)
    if token is None:
        token = service_token(state().settings).encode()
        current_app.extensions[_EXPECTED_EXTENSION] = token
    return typing.cast("bytes", token)


@blueprint.before_request
async def _authenticate() -> None:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    expected = _expected_token()
    # compare_digest on bytes of any length: no early exit that would time the token.
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), expected):
        raise APIError(401, "unauthorized", "a valid service token is required")


async def _xp_curve(guild_id: int) -> Curve:
    section = (await read_config(guild_id)).config.xp
    if not section.enabled:
        raise APIError(409, "xp_disabled", "XP is turned off in this guild")
    return curve_for(section)


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
    card = rank_card_for("", standing.xp, standing.rank, curve)
    out = MemberRank(
        user_id=user_id,
        xp=standing.xp,
        level=standing.level,
        rank=standing.rank,
        ranked=standing.ranked,
        level_start_xp=card.level_start_xp,
        next_level_xp=card.next_level_xp,
    )
    return out.model_dump(mode="json"), 200


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


@blueprint.get("/guilds/<id:guild_id>/config")
@hide
async def config_show(guild_id: int) -> dict[str, typing.Any]:
    versioned = await read_config(guild_id)
    return ConfigShown(
        guild_id=guild_id,
        version=versioned.version,
        config=versioned.config.model_dump(mode="json"),
    ).model_dump(mode="json")
