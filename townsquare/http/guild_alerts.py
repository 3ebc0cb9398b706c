"""The dashboard's guild alerts page: what the bot could not do in this server, until
someone acknowledges it (docs/alerts.md).

The same alerts go to the guild's log channel (or the owner by DM); this page lists the
guild's open ones (its newest 50, from the guild's own index) and lets a manager acknowledge
one, which also closes it in the operators' console.
"""

from __future__ import annotations

import re
import typing

from quart import g, redirect, render_template, request, url_for
from quart_schema import hide

from townsquare.core.alerts import GUILD_ALERTS_MAXLEN, acknowledge_alert, guild_alerts, open_alerts
from townsquare.http.access import managed_guild
from townsquare.http.blueprints import dashboard_blueprint
from townsquare.http.config_forms import GuildLink
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from werkzeug.wrappers.response import Response as BaseResponse

    from townsquare.http.access import Session

__all__ = ["LINK", "blueprint"]

blueprint = dashboard_blueprint(
    "guild_alerts", __name__, url_prefix="/dashboard/guilds/<id:guild_id>/bot-alerts"
)
LINK: typing.Final = GuildLink("bot_alerts", "Alerts", "guild_alerts.show")

_ALERT_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


async def _render(guild_id: int, *, notice: str = "", error: str = "") -> str:
    session: Session = g.ts_session
    guild = await managed_guild(session, guild_id)
    app_state = state()
    return await render_template(
        "guild_alerts.html",
        user=session,
        guild_id=guild_id,
        guild_name=guild.name if guild else str(guild_id),
        alerts=await open_alerts(app_state.require_redis(), app_state.keyspace, guild_id),
        notice=notice,
        error=error,
    )


@blueprint.get("")
@hide
async def show(guild_id: int) -> str:
    acknowledged = request.args.get("acknowledged") == "1"
    return await _render(guild_id, notice="Alert acknowledged." if acknowledged else "")


@blueprint.post("/acknowledge")
@hide
async def acknowledge(guild_id: int) -> BaseResponse | tuple[str, int]:
    raw = (await request.form).get("alert_id", "").strip()
    if not _ALERT_ID.match(raw):
        return await _render(guild_id, error="the form names no alert; reload the page"), 400
    app_state = state()
    redis = app_state.require_redis()
    known = await guild_alerts(redis, app_state.keyspace, guild_id, count=GUILD_ALERTS_MAXLEN)
    if raw not in {alert.alert_id for alert in known}:
        return await _render(guild_id, error="no such alert in this server"), 404
    await acknowledge_alert(redis, app_state.keyspace, raw)
    return redirect(url_for("guild_alerts.show", guild_id=guild_id, acknowledged="1"), 303)
