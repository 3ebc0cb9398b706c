"""The public leaderboard page, `/leaderboard/<guild id>`: anyone with the link sees the
guild's members ranked by XP, with their avatars, names, levels and a bar of their progress to
the next level, 20 to a page (docs/xp.md, "Public leaderboard page").

Off by default: a guild's managers switch it on on the Levels page (`levels.public_leaderboard`).
A guild that has not (or that the bot does not know) gets 404 and nothing of its data; the
check reads the cached configuration, and on a miss the stored one, without creating rows for
guilds nobody configured.

The ranks come from the same cache as `/public/v1`'s leaderboard (`public_leaderboard`, 10 s;
`public.leaderboard_body`): a page view costs one Redis GET when the API or another view asked
for that page lately. Names and avatars come from Discord, cached per member for 10 minutes
(`http.guild_lookups.guild_member_profiles`). Avatars are passed through this service
(`/leaderboard/<guild id>/avatars/<user id>.png`, for ranked members of a published
leaderboard only): the pages' Content-Security-Policy admits images of this origin only, and
visitors' browsers never contact Discord.
"""

from __future__ import annotations

import json
import typing

import aiohttp
from quart import Blueprint, Response, render_template, request
from quart_schema import hide

from townsquare.core.config.cache import cached_config
from townsquare.core.config.models import GuildConfigRecord
from townsquare.core.features import guild_config_model
from townsquare.core.guilds.models import Guild
from townsquare.features.xp.domain.config import LevelsSection, XPSection
from townsquare.features.xp.domain.curve import curve_for
from townsquare.features.xp.domain.leaderboard import PageOutOfRangeError
from townsquare.features.xp.web.public import leaderboard_body
from townsquare.http.errors import APIError
from townsquare.http.guild_lookups import guild_member_profiles
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from townsquare.core.config.schemas import GuildConfig

__all__ = ["AVATAR_MAX_AGE", "PER_PAGE", "blueprint"]

PER_PAGE: typing.Final = 20
_MAX_PAGE: typing.Final = 1_000_000
_CDN: typing.Final = "https://cdn.discordapp.com/"
_AVATAR_TIMEOUT: typing.Final = aiohttp.ClientTimeout(total=3)
_AVATAR_MAX_BYTES: typing.Final = 512 * 1024
AVATAR_MAX_AGE: typing.Final = 3600
"""Seconds a browser keeps an avatar before asking again."""

blueprint = Blueprint("xp_leaderboard_page", __name__)


async def _published_config(guild: int) -> GuildConfig | None:
    """The guild's configuration if it shows its leaderboard; None otherwise (no row, off)."""
    app_state = state()
    versioned = await cached_config(app_state.require_redis(), app_state.keyspace, guild)
    if versioned is not None:
        config = versioned.config
    else:
        row = await GuildConfigRecord.get_or_none(guild_id=guild)
        if row is None:
            return None
        config = guild_config_model().from_stored(row.document, app_state.defaults)
    return config if config.section(LevelsSection).public_leaderboard else None


async def _not_found() -> tuple[str, int]:
    error = APIError(404, "not_found", "this server has no public leaderboard")
    return await render_template("error.html", error=error, user=None), 404


@blueprint.get("/leaderboard/<id:guild>")
@hide
async def show(guild: int) -> tuple[str, int]:
    config = await _published_config(guild)
    if config is None:
        return await _not_found()
    raw = request.args.get("page", "1")
    page_number = int(raw) if raw.isdecimal() and 0 < len(raw) <= 7 else 0
    if not 1 <= page_number <= _MAX_PAGE:
        return await _not_found()
    curve = curve_for(config.section(XPSection))
    try:
        body = await leaderboard_body(guild, page_number, PER_PAGE, curve=curve, cached=True)
    except PageOutOfRangeError:
        return await _not_found()
    board = json.loads(body)
    entries = board["entries"]
    profiles = await guild_member_profiles(guild, [int(entry["user_id"]) for entry in entries])
    rows = []
    for entry in entries:
        level, xp = int(entry["level"]), int(entry["xp"])
        start = curve.xp_for_level(min(level, curve.max_level))
        end = curve.xp_for_level(level + 1) if level < curve.max_level else None
        percent = 100 if end is None else int(100 * (xp - start) / max(1, end - start))
        rows.append(
            {
                "rank": entry["rank"],
                "xp": xp,
                "level": level,
                "profile": profiles[int(entry["user_id"])],
                "percent": max(0, min(100, percent)),
                "to_next": None if end is None else end - xp,
            }
        )
    guild_name = await _guild_name(guild)
    page = await render_template(
        "xp/leaderboard.html",
        user=None,
        guild=guild,
        guild_name=guild_name,
        rows=rows,
        page=board["page"],
        pages=board["pages"],
        ranked=board["ranked"],
    )
    return page, 200


@blueprint.get("/leaderboard/<id:guild>/avatars/<id:user>.png")
@hide
async def avatar(guild: int, user: int) -> Response | tuple[str, int]:
    """A ranked member's avatar, fetched from Discord's CDN (404 when there is none)."""
    app_state = state()
    ranked = await app_state.require_redis().hget(app_state.keyspace.key("xp", guild), str(user))
    if ranked is None or int(ranked) <= 0 or await _published_config(guild) is None:
        return await _not_found()
    url = (await guild_member_profiles(guild, [user]))[user].avatar_url
    if url is None or not url.startswith(_CDN):
        return await _not_found()
    try:
        async with app_state.require_client().get(url, timeout=_AVATAR_TIMEOUT) as reply:
            image = await reply.content.read(_AVATAR_MAX_BYTES)
            if reply.status != 200 or reply.content_type != "image/png":
                return await _not_found()
    except (aiohttp.ClientError, TimeoutError):
        return await _not_found()
    return Response(
        image,
        content_type="image/png",
        headers={"Cache-Control": f"public, max-age={AVATAR_MAX_AGE}"},
    )


async def _guild_name(guild: int) -> str:
    row = await Guild.get_or_none(id=guild)
    return row.name if row is not None and row.name else "This server"
