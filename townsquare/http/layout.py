"""What the dashboard's layout shows around every guild page: the guild's icon and name.

Every guild page (a route with `guild_id`) has passed :func:`~townsquare.http.access.
require_manager` before it renders, which leaves the user's manageable guilds on `g`; the
layout reads the guild from there, so the header costs no request of its own. Without them
(a page rendered before the check, or an error page) the heading is left out.
"""

from __future__ import annotations

import dataclasses
import typing

from quart import g, request

if typing.TYPE_CHECKING:
    from townsquare.core.auth import ManageableGuild

__all__ = ["ICON_ORIGIN", "GuildHeading", "guild_heading", "layout_context"]

ICON_ORIGIN: typing.Final = "https://cdn.discordapp.com"
"""Where Discord serves guild icons (allowed as an image source by the security policy)."""


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
    icon = f"{ICON_ORIGIN}/icons/{guild.id}/{guild.icon}.png?size=64" if guild.icon else None
    initials = "".join(word[0] for word in guild.name.split() if word)[:3] or "?"
    return GuildHeading(guild.id, guild.name, icon, initials)


async def layout_context() -> dict[str, typing.Any]:
    """`current_guild` for the layout: the :class:`GuildHeading` of the page's `guild_id`."""
    guild_id = (request.view_args or {}).get("guild_id")
    guilds: list[ManageableGuild] = g.get("ts_managed_guilds") or []
    found = next((guild for guild in guilds if guild.id == guild_id), None)
    return {"current_guild": guild_heading(found) if found is not None else None}
