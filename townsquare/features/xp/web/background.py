"""The rank-card page of the dashboard: upload, see and remove the guild's custom background
(premium: `xp.rank_card_background`; the rules are `domain.backgrounds`')."""

from __future__ import annotations

import typing

from quart import Response, g, redirect, render_template, request, url_for
from quart_schema import hide

from townsquare.core.premium import PremiumRefused
from townsquare.features.xp.domain.backgrounds import (
    BACKGROUND_LIMIT,
    MAX_UPLOAD_BYTES,
    BackgroundError,
    load_background,
    remove_background,
    store_background,
)
from townsquare.features.xp.web.dashboard import session_actor
from townsquare.http.access import managed_guild
from townsquare.http.blueprints import dashboard_blueprint
from townsquare.http.errors import APIError
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from werkzeug.wrappers.response import Response as BaseResponse

    from townsquare.http.access import Session

__all__ = ["BODY_LIMITS", "blueprint"]

blueprint = dashboard_blueprint(
    "xp_rank_card", __name__, url_prefix="/dashboard/guilds/<id:guild_id>/rank-card"
)

BODY_LIMITS: typing.Final = {"xp_rank_card.upload": MAX_UPLOAD_BYTES + 64 * 1024}
"""The upload's body: the image (2 MiB at most) and the form around it."""


async def _render(guild_id: int, *, error: str = "", status: int = 200) -> tuple[str, int]:
    session: Session = g.ts_session
    guild = await managed_guild(session, guild_id)
    verdict = await state().require_gate().may(guild_id, BACKGROUND_LIMIT)
    found = await load_background(guild_id)
    page = await render_template(
        "xp/rank_card.html",
        user=session,
        guild_id=guild_id,
        guild_name=guild.name if guild else str(guild_id),
        verdict=verdict,
        version=found[0] if found else None,
        error=error,
        saved=request.args.get("saved") == "1",
        max_mib=MAX_UPLOAD_BYTES // (1024 * 1024),
    )
    return page, status


@blueprint.get("")
@hide
async def show(guild_id: int) -> tuple[str, int]:
    return await _render(guild_id)


@blueprint.get("/background.jpg")
@hide
async def image(guild_id: int) -> Response:
    found = await load_background(guild_id)
    if found is None:
        raise APIError(404, "no_background", "this server has no rank-card background")
    return Response(found[1], content_type="image/jpeg")


@blueprint.post("")
@hide
async def upload(guild_id: int) -> BaseResponse | tuple[str, int]:
    upload = (await request.files).get("image")
    data = upload.read() if upload is not None else b""
    try:
        gate = state().require_gate()
        await store_background(guild_id, data, session_actor(g.ts_session), gate=gate)
    except PremiumRefused as refused:
        return await _render(guild_id, error=refused.verdict.explain(), status=402)
    except BackgroundError as invalid:
        return await _render(guild_id, error=f"The image was not saved: {invalid}.", status=400)
    return redirect(url_for("xp_rank_card.show", guild_id=guild_id, saved="1"), 303)


@blueprint.post("/remove")
@hide
async def remove(guild_id: int) -> BaseResponse:
    await remove_background(guild_id, session_actor(g.ts_session))
    return redirect(url_for("xp_rank_card.show", guild_id=guild_id), 303)
