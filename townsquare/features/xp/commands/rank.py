"""`/rank [member]`: a member's rank card (a PNG; an embed where files cannot be sent).

The standing comes from the internal API; the card is drawn here, with the name Discord gave.
"""

from __future__ import annotations

import asyncio
import base64
import typing

import aiohttp
import arc
import hikari
import structlog

from townsquare.core.process_caches import CacheSlot
from townsquare.features.xp.commands._checks import guild_curve
from townsquare.features.xp.commands.api import XPClient
from townsquare.features.xp.domain.rank_card import RankCard, render_rank_card
from townsquare.shards.api_client import APIRefusedError
from townsquare.shards.commands.services import INJECTED, CommandServices, Refusal, Reply, answer

__all__ = ["AVATAR_TIMEOUT_SECONDS", "fetch_avatar", "plugin", "rank_embed"]

plugin = arc.GatewayPlugin("rank")

_log = structlog.get_logger(__name__)

AVATAR_TIMEOUT_SECONDS: typing.Final = 1.0
"""A slower avatar download gives way to the placeholder, so the card stays within 3 s."""
CARD_FILE_NAME: typing.Final = "rank.png"
_BAR_CELLS: typing.Final = 12


async def fetch_avatar(user: hikari.User) -> bytes | None:
    """The user's own avatar as PNG bytes, or None (no custom avatar, slow or failed)."""
    url = user.make_avatar_url(file_format="PNG", size=256)
    if url is None:
        return None
    try:
        async with asyncio.timeout(AVATAR_TIMEOUT_SECONDS):
            return await url.read()
    except (TimeoutError, OSError, aiohttp.ClientError, hikari.HikariError) as error:
        _log.info("avatar_unavailable", user_id=int(user.id), error=repr(error))
        return None


BACKGROUNDS: typing.Final = CacheSlot[dict[int, tuple[str, bytes]]]("xp.backgrounds", dict)
"""Guild -> (version, JPEG) of the custom backgrounds this shard process has drawn."""
_BACKGROUNDS_KEPT: typing.Final = 256


async def _background(services: CommandServices, guild_id: int, version: str) -> bytes | None:
    """The guild's background of `version`, fetched once per version (None if it is gone)."""
    backgrounds = services.caches.get(BACKGROUNDS)
    kept = backgrounds.get(guild_id)
    if kept is not None and kept[0] == version:
        return kept[1]
    try:
        shown = await XPClient(services.client()).background(guild_id)
    except APIRefusedError:
        return None  # removed since the rank was read: the standard card
    image = base64.b64decode(shown.image)
    if len(backgrounds) >= _BACKGROUNDS_KEPT:
        backgrounds.pop(next(iter(backgrounds)))
    backgrounds[guild_id] = (shown.version, image)
    return image


def rank_embed(card: RankCard, user_id: int) -> hikari.Embed:
    """The card's facts as an embed, for where a PNG cannot be attached."""
    filled = round(card.progress * _BAR_CELLS)
    bar = "▰" * filled + "▱" * (_BAR_CELLS - filled)
    if card.next_level_xp is None:
        progress = f"{card.xp:,} XP (max level)"
    else:
        into, needed = card.xp - card.level_start_xp, card.next_level_xp - card.level_start_xp
        progress = f"{into:,} / {needed:,} XP to level {card.level + 1}"
    embed = hikari.Embed(title=card.name, description=f"<@{user_id}>\n{bar}\n{progress}")
    embed.add_field("Rank", "unranked" if card.rank is None else f"#{card.rank}", inline=True)
    embed.add_field("Level", str(card.level), inline=True)
    embed.add_field("XP", f"{card.xp:,}", inline=True)
    return embed


@plugin.include
@arc.slash_command("rank", "Show your rank card, or another member's.")
async def rank_command(
    ctx: arc.GatewayContext,
    member: typing.Annotated[
        hikari.User | None, arc.UserParams("Whose rank (default: yours).")
    ] = None,
    services: CommandServices = INJECTED,
) -> None:
    if ctx.guild_id is None:
        raise Refusal("Ranks belong to servers: use this command in one.")
    guild_id = int(ctx.guild_id)
    user = member or ctx.user
    resolved = ctx.interaction.resolved
    guild_member = (
        ctx.member if member is None else (resolved.members.get(user.id) if resolved else None)
    )
    display = guild_member.display_name if guild_member is not None else user.global_name
    name = display if isinstance(display, str) and display else user.username

    async def work() -> Reply:
        await guild_curve(services, guild_id)  # refuses when XP is off
        standing = await XPClient(services.client()).member_rank(guild_id, int(user.id))
        card = RankCard(
            name,
            standing.level,
            standing.xp,
            standing.level_start_xp,
            standing.next_level_xp,
            standing.rank,
        )
        if not services.attachments:
            return Reply(embed=rank_embed(card, int(user.id)))
        avatar = await fetch_avatar(user) if services.fetch_avatars else None
        background = None
        if standing.background is not None:
            background = await _background(services, guild_id, standing.background)
        # Rendering takes tens of milliseconds of CPU: keep it off the gateway's loop.
        png = await asyncio.to_thread(render_rank_card, card, avatar, background)
        return Reply(attachment=hikari.Bytes(png, CARD_FILE_NAME))

    await answer(ctx, work(), defer_after=services.defer_after_seconds)
