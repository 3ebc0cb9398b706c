"""The premium page of a guild (dashboard), and the same overview as JSON for its managers
(`GET /api/v1/guilds/{id}/premium`) and for `/premium` (`/internal/v1`)."""

from __future__ import annotations

import typing

from quart import g, render_template
from quart_schema import hide, validate_response

from townsquare.features.premium.domain.overview import overview
from townsquare.features.premium.domain.wire import PremiumShown
from townsquare.http.access import managed_guild
from townsquare.http.blueprints import (
    API_READ,
    api_blueprint,
    dashboard_blueprint,
    internal_blueprint,
)
from townsquare.http.openapi import errors
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from townsquare.http.access import Session

__all__ = ["api", "dashboard", "internal"]

dashboard = dashboard_blueprint(
    "premium", __name__, url_prefix="/dashboard/guilds/<id:guild_id>/premium"
)
api = api_blueprint("premium_api", __name__)
internal = internal_blueprint("premium_internal", __name__)


async def _overview(guild_id: int) -> PremiumShown:
    app_state = state()
    return await overview(
        guild_id, app_state.require_gate().catalogue, app_state.require_redis(), app_state.keyspace
    )


@dashboard.get("")
@hide
async def show(guild_id: int) -> str:
    """Tier, source, end, each limit with its usage as a bar, and every tier's offer."""
    session: Session = g.ts_session
    guild = await managed_guild(session, guild_id)
    shown = await _overview(guild_id)
    return await render_template(
        "premium/premium.html",
        user=session,
        guild_id=guild_id,
        guild_name=guild.name if guild else str(guild_id),
        premium=shown,
        grace_days=state().settings.premium.grace_days,
    )


@api.get("/guilds/<id:guild_id>/premium")
@API_READ
@validate_response(PremiumShown)
@errors(401, 403, 404, 502)
async def get_premium(guild_id: int) -> PremiumShown:
    """The guild's premium: tier, where it comes from, when it ends, each limit with its
    usage, and what every tier offers (docs/premium.md)."""
    return await _overview(guild_id)


@internal.get("/guilds/<id:guild_id>/premium")
@hide
async def internal_premium(guild_id: int) -> dict[str, typing.Any]:
    """What `/premium` shows."""
    return (await _overview(guild_id)).model_dump(mode="json")
