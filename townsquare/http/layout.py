"""What the dashboard's layout shows around every guild page: the guild's icon and name.

The icon is Discord's, passed through `/dashboard/guilds/<id>/icon` (:func:`icon`), so the
pages load nothing from another origin (the security policy allows none) and the browser
keeps it for a day. Every guild page (a route with `guild_id`) has passed the dashboard's
manager check before it renders, which leaves the user's manageable guilds on `g`; the layout
reads the guild from there, so the header costs no request of its own. Without them (an error
page) the heading falls back to the page's own `guild_name`.
"""

from __future__ import annotations

import dataclasses
import re
import typing

import aiohttp
import structlog
from quart import Response, g, request, url_for
from quart_schema import hide

from townsquare.http.access import managed_guild
from townsquare.http.blueprints import dashboard_blueprint
from townsquare.http.errors import APIError
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from townsquare.core.auth import ManageableGuild

__all__ = ["ICON_ORIGIN", "GuildHeading", "blueprint", "guild_heading", "layout_context"]

log = structlog.get_logger(__name__)

blueprint = dashboard_blueprint("layout", __name__)

ICON_ORIGIN: typing.Final = "https://cdn.discordapp.com"
"""Where Discord serves guild icons."""
ICON_TIMEOUT: typing.Final = aiohttp.ClientTimeout(total=3)
ICON_MAX_BYTES: typing.Final = 256 * 1024
"""A 64 px icon is a few KiB; anything larger is not passed on."""
_ICON_HASH: typing.Final = re.compile(r"[A-Za-z0-9_]{1,64}")
"""Discord's icon hashes (hex, `a_` first when animated): nothing else goes into the URL."""


@dataclasses.dataclass(frozen=True, slots=True)
class GuildHeading:
    """The guild a page is about, as the layout's header shows it."""

    id: int
    name: str
    icon_url: str | None
    """Discord's icon of the guild; None when it has none (the initials are shown)."""
    initials: str
    """Up to three first letters of the name's words, as Discord shows a guild without icon."""


def guild_heading(guild: ManageableGuild) -> GuildHeading:
    icon = url_for("layout.icon", guild_id=guild.id, v=guild.icon) if guild.icon else None
    initials = "".join(word[0] for word in guild.name.split() if word)[:3] or "?"
    return GuildHeading(guild.id, guild.name, icon, initials)


async def layout_context() -> dict[str, typing.Any]:
    """`current_guild` for the layout: the :class:`GuildHeading` of the page's `guild_id`."""
    guild_id = (request.view_args or {}).get("guild_id")
    guilds: list[ManageableGuild] = g.get("ts_managed_guilds") or []
    found = next((guild for guild in guilds if guild.id == guild_id), None)
    return {"current_guild": guild_heading(found) if found is not None else None}


@blueprint.get("/guilds/<id:guild_id>/icon")
@hide
async def icon(guild_id: int) -> Response:
    """The guild's icon from Discord (64 px PNG); 404 when it has none or Discord fails."""
    guild = await managed_guild(g.ts_session, guild_id)
    if guild is None or not guild.icon or (not guild.icon.isalnum() and "_" not in guild.icon):
        raise APIError(404, "not_found", "this server has no icon")
    url = f"{ICON_ORIGIN}/icons/{guild_id}/{guild.icon}.png?size=64"
    try:
        async with state().require_client().get(url, timeout=ICON_TIMEOUT) as reply:
            body = await reply.content.read(ICON_MAX_BYTES + 1)
            ok = reply.status == 200 and len(body) <= ICON_MAX_BYTES
    except (aiohttp.ClientError, TimeoutError) as error:
        log.warning("guild_icon_unreachable", guild_id=guild_id, error=type(error).__name__)
        ok = False
    if not ok:
        raise APIError(404, "not_found", "Discord did not give this server's icon")
    response = Response(body, content_type="image/png")
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response
