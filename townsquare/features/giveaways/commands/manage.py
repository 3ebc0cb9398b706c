"""`/giveaway end|cancel|reroll|list`: a giveaway's managers act on it by its number."""

from __future__ import annotations

import typing

import arc
import hikari

from townsquare.features.giveaways.commands.api import GiveawaysClient
from townsquare.features.giveaways.domain.render import timestamp
from townsquare.shards.commands.services import INJECTED, CommandServices, Reply, answer

__all__ = ["giveaway_cancel", "giveaway_end", "giveaway_list", "giveaway_reroll"]

type GiveawayOption = typing.Annotated[
    int, arc.IntParams("The giveaway's number (see /giveaway list).", name="id", min=1)
]


async def _act(
    ctx: arc.GatewayContext,
    services: CommandServices,
    giveaway_id: int,
    action: str,
    *,
    done: str,
    body: dict[str, typing.Any] | None = None,
) -> None:
    async def work() -> Reply:
        guild_id, _ = await services.managed_guild(ctx, "run giveaways")
        shown = await GiveawaysClient(services.client()).act(guild_id, giveaway_id, action, body)
        text = done.format(id=shown.id, prize=shown.prize, channel=f"<#{shown.channel_id}>")
        return Reply(content=text, ephemeral=True)

    await answer(ctx, work(), defer_after=services.defer_after_seconds)


@arc.slash_subcommand("end", "End a giveaway now and draw its winners.")
async def giveaway_end(
    ctx: arc.GatewayContext, giveaway_id: GiveawayOption, services: CommandServices = INJECTED
) -> None:
    done = "Ending giveaway #{id} (**{prize}**) now: the winners are announced in {channel}."
    await _act(ctx, services, giveaway_id, "end", done=done)


@arc.slash_subcommand("cancel", "Cancel a giveaway: nobody wins.")
async def giveaway_cancel(
    ctx: arc.GatewayContext, giveaway_id: GiveawayOption, services: CommandServices = INJECTED
) -> None:
    await _act(
        ctx,
        services,
        giveaway_id,
        "cancel",
        done="Cancelled giveaway #{id} (**{prize}**): nobody wins.",
    )


@arc.slash_subcommand("reroll", "Replace winners who have not claimed yet.")
async def giveaway_reroll(
    ctx: arc.GatewayContext,
    giveaway_id: GiveawayOption,
    count: typing.Annotated[
        int, arc.IntParams("How many unclaimed winners to replace (default 1).", min=1, max=100)
    ] = 1,
    services: CommandServices = INJECTED,
) -> None:
    await _act(
        ctx,
        services,
        giveaway_id,
        "reroll",
        done="Rerolling giveaway #{id} (**{prize}**): the new winners are announced in {channel}.",
        body={"count": count, "actor_id": int(ctx.user.id)},
    )


@arc.slash_subcommand("list", "The giveaways running, waiting for claims or scheduled.")
async def giveaway_list(ctx: arc.GatewayContext, services: CommandServices = INJECTED) -> None:
    async def work() -> Reply:
        guild_id, _ = await services.managed_guild(ctx, "run giveaways")
        found = await GiveawaysClient(services.client()).listing(
            guild_id, ["scheduled", "running", "drawing", "claiming"]
        )
        embed = hikari.Embed(title="Giveaways", colour=hikari.Color(0x5865F2))
        lines = [
            f"#{g.id} **{g.prize}** · {g.state} · {g.winners} winners · <#{g.channel_id}> · "
            + (f"ends {timestamp(g.ends_at)}" if g.state in {"running", "scheduled"} else "")
            for g in found.giveaways
        ]
        embed.description = "\n".join(lines) or "No giveaway is running."
        return Reply(embed=embed, ephemeral=True)

    await answer(ctx, work(), defer_after=services.defer_after_seconds)
