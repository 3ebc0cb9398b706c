"""`/internal/v1` giveaway routes: what `/giveaway ...` and the Claim button ask for (flow 2).

Behind the service token. Creating checks the premium limits (running giveaways, winners,
requirement kinds) and queues the message's posting; ending and rerolling queue the work for
the workers (the draw re-checks members through Discord); cancelling and claiming are
conditional updates answered at once.
"""

from __future__ import annotations

import typing

from quart import request
from quart_schema import hide, validate_request

from townsquare.features.giveaways.domain import jobs, lifecycle
from townsquare.features.giveaways.domain.clock import CLOCK
from townsquare.features.giveaways.domain.entries import entry_count
from townsquare.features.giveaways.domain.models import Giveaway, GiveawayState
from townsquare.features.giveaways.domain.service import GiveawaySpec, guild_giveaways
from townsquare.features.giveaways.domain.wire import (
    ClaimAnswer,
    ClaimBody,
    GiveawayList,
    GiveawayShown,
    RerollBody,
)
from townsquare.features.giveaways.web.common import create, queue
from townsquare.http.blueprints import internal_blueprint
from townsquare.http.errors import APIError
from townsquare.http.state import state

__all__ = ["blueprint"]

blueprint = internal_blueprint("giveaways_internal", __name__)

_STATES: typing.Final = {s.value: s for s in GiveawayState}


async def _giveaway(guild_id: int, giveaway_id: int) -> Giveaway:
    giveaway = await Giveaway.get_or_none(id=giveaway_id, guild_id=guild_id)
    if giveaway is None:
        raise APIError(404, "no_such_giveaway", f"there is no giveaway #{giveaway_id} here")
    return giveaway


async def _shown(giveaway: Giveaway) -> dict[str, typing.Any]:
    app_state = state()
    count = (
        await entry_count(app_state.require_redis(), app_state.keyspace, giveaway.id)
        if giveaway.state is GiveawayState.RUNNING
        else None
    )
    return GiveawayShown.of(giveaway, count).model_dump(mode="json")


@blueprint.post("/guilds/<id:guild_id>/giveaways")
@hide
@validate_request(GiveawaySpec)
async def start(guild_id: int, data: GiveawaySpec) -> tuple[dict[str, typing.Any], int]:
    giveaway = await create(guild_id, data)
    return await _shown(giveaway), 201


@blueprint.get("/guilds/<id:guild_id>/giveaways")
@hide
async def listing(guild_id: int) -> dict[str, typing.Any]:
    wanted = [s for value in request.args.getlist("state") for s in value.split(",") if s]
    unknown = [name for name in wanted if name not in _STATES]
    if unknown:
        raise APIError(400, "invalid_query", "unknown state", {"state": unknown})
    states = [_STATES[name] for name in wanted] or None
    found = await guild_giveaways(guild_id, states, limit=25)
    return GiveawayList(giveaways=[GiveawayShown.of(g) for g in found]).model_dump(mode="json")


@blueprint.get("/guilds/<id:guild_id>/giveaways/<id:giveaway_id>")
@hide
async def show(guild_id: int, giveaway_id: int) -> dict[str, typing.Any]:
    return await _shown(await _giveaway(guild_id, giveaway_id))


@blueprint.post("/guilds/<id:guild_id>/giveaways/<id:giveaway_id>/end")
@hide
async def end_now(guild_id: int, giveaway_id: int) -> tuple[dict[str, typing.Any], int]:
    giveaway = await _giveaway(guild_id, giveaway_id)
    if giveaway.state is not GiveawayState.RUNNING:
        raise APIError(
            409, "not_running", f"Giveaway #{giveaway_id} is {giveaway.state}, not running."
        )
    await queue(jobs.END_TASK, giveaway_id, force=True)
    return await _shown(giveaway), 202


@blueprint.post("/guilds/<id:guild_id>/giveaways/<id:giveaway_id>/cancel")
@hide
async def cancel(guild_id: int, giveaway_id: int) -> dict[str, typing.Any]:
    giveaway = await _giveaway(guild_id, giveaway_id)
    app_state = state()
    cancelled = await lifecycle.cancel(
        app_state.require_redis(), app_state.keyspace, giveaway_id, "cancelled by the host"
    )
    if cancelled is None:
        raise APIError(
            409,
            "not_cancellable",
            f"Giveaway #{giveaway_id} is {giveaway.state}: too late to cancel.",
        )
    await queue(jobs.REFRESH_TASK, giveaway_id)
    return await _shown(cancelled)


@blueprint.post("/guilds/<id:guild_id>/giveaways/<id:giveaway_id>/reroll")
@hide
@validate_request(RerollBody)
async def reroll(
    guild_id: int, giveaway_id: int, data: RerollBody
) -> tuple[dict[str, typing.Any], int]:
    giveaway = await _giveaway(guild_id, giveaway_id)
    if giveaway.state is not GiveawayState.CLAIMING:
        raise APIError(
            409,
            "nothing_to_reroll",
            f"Giveaway #{giveaway_id} is {giveaway.state}: only winners who have not claimed "
            "yet can be rerolled.",
        )
    await queue(jobs.REROLL_TASK, giveaway_id, data.count, giveaway.next_position)
    return await _shown(giveaway), 202


@blueprint.post("/giveaways/<id:giveaway_id>/claim")
@hide
@validate_request(ClaimBody)
async def claim(giveaway_id: int, data: ClaimBody) -> dict[str, typing.Any]:
    giveaway = await Giveaway.get_or_none(id=giveaway_id)
    if giveaway is None:
        raise APIError(404, "no_such_giveaway", f"there is no giveaway #{giveaway_id}")
    result = await lifecycle.claim(giveaway_id, data.user_id, CLOCK.now())
    if result.outcome == "claimed" and result.pick is not None:
        await queue(jobs.CLAIMED_TASK, giveaway_id, result.pick.position)
    return ClaimAnswer(
        outcome=result.outcome, prize=giveaway.prize, guild_id=giveaway.guild_id
    ).model_dump(mode="json")
