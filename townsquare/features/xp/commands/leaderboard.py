"""`/leaderboard [page]`: ten members a page, most XP first, ties by user id."""

from __future__ import annotations

import typing

import arc
import hikari

from townsquare.features.xp.commands._checks import guild_curve
from townsquare.features.xp.commands.api import XPClient
from townsquare.shards.api_client import APIRefusedError
from townsquare.shards.commands.services import INJECTED, CommandServices, Refusal, Reply, answer

if typing.TYPE_CHECKING:
    from townsquare.features.xp.domain.wire import LeaderboardPage

__all__ = ["leaderboard_embed", "plugin"]

plugin = arc.GatewayPlugin("leaderboard")

EMBED_COLOUR: typing.Final = hikari.Color(0x5865F2)


def leaderboard_embed(board: LeaderboardPage, guild_name: str | None) -> hikari.Embed:
    """One page as an embed: `#rank <@member> · level · XP` per line (mentions do not ping)."""
    title = f"Leaderboard of {guild_name}" if guild_name else "Leaderboard"
    lines = [
        f"`#{entry.rank}` <@{entry.user_id}> · level {entry.level} · {entry.xp:,} XP"
        for entry in board.entries
    ]
    embed = hikari.Embed(
        title=title,
        description="\n".join(lines) or "Nobody has earned XP here yet.",
        colour=EMBED_COLOUR,
    )
    members = "member" if board.ranked == 1 else "members"
    return embed.set_footer(f"Page {board.page} of {board.pages} · {board.ranked} ranked {members}")


@plugin.include
@arc.slash_command("leaderboard", "The members with the most XP on this server.")
async def leaderboard_command(
    ctx: arc.GatewayContext,
    page: typing.Annotated[int, arc.IntParams("Which page (10 members a page).", min=1)] = 1,
    services: CommandServices = INJECTED,
) -> None:
    if ctx.guild_id is None:
        raise Refusal("Leaderboards belong to servers: use this command in one.")
    guild_id = int(ctx.guild_id)

    async def work() -> Reply:
        await guild_curve(services, guild_id)  # refuses when XP is off
        try:
            board = await XPClient(services.client()).leaderboard(guild_id, page)
        except APIRefusedError as error:
            if error.code != "page_out_of_range":
                raise
            pages = int(error.body.get("pages", 1))
            raise Refusal(
                f"There is no page {page}: the leaderboard has "
                + ("only page 1." if pages == 1 else f"pages 1 to {pages}.")
            ) from None
        guild = ctx.get_guild()
        return Reply(embed=leaderboard_embed(board, guild.name if guild else None))

    await answer(ctx, work(), defer_after=services.defer_after_seconds)
