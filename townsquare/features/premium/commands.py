"""`/premium`: the server's tier, where it comes from, when it ends, and every limit with its
usage (the internal API's overview, `GET /internal/v1/guilds/{id}/premium`). Below a higher
tier with an SKU, the reply carries Discord's premium button to buy it."""

from __future__ import annotations

import datetime
import typing

import arc
import hikari

from townsquare.core.premium import UpgradeOffer
from townsquare.features.premium.domain.wire import PremiumShown
from townsquare.shards.commands.services import (
    INJECTED,
    CommandServices,
    Refusal,
    Reply,
    answer,
    upgrade_components,
)

__all__ = ["PLUGINS", "plugin", "premium_embed"]

plugin = arc.GatewayPlugin("premium")

_SOURCES: typing.Final = {
    "entitlement": "a Discord subscription",
    "manual": "granted by the operators",
    "grace": "a subscription that ended (grace period: its limits stay until the end date)",
}


def premium_embed(shown: PremiumShown) -> hikari.Embed:
    """The overview as an embed: tier, source, end, one line per limit."""
    ends = "never"
    if shown.ends_at:
        moment = datetime.datetime.fromisoformat(shown.ends_at)
        ends = f"<t:{int(moment.timestamp())}:f>"  # keyspace: not a key (a Discord timestamp)
    embed = hikari.Embed(title=f"Premium: {shown.tier_name}")
    embed.add_field("From", _SOURCES.get(shown.source or "", "no subscription"), inline=True)
    embed.add_field("Ends", ends, inline=True)
    lines = [
        f"{'⚠️ ' if limit.over else ''}{limit.explain}"
        + (" The extra ones are paused." if limit.over else "")
        for limit in shown.limits
    ]
    embed.description = "\n".join(lines)[:4096]
    return embed


@plugin.include
@arc.slash_command("premium", "This server's premium tier and what it uses of each limit.")
async def premium_command(ctx: arc.GatewayContext, services: CommandServices = INJECTED) -> None:
    async def work() -> Reply:
        if ctx.guild_id is None:
            raise Refusal("This command works in servers only: use it in one.")
        body = await services.client().request("GET", f"/guilds/{int(ctx.guild_id)}/premium")
        shown = PremiumShown.model_validate(body)
        catalogue = services.premium().catalogue
        current = catalogue.tier(shown.tier)
        higher = catalogue.tiers[current.rank + 1 :]
        sku = catalogue.sku_for(higher[0]) if higher else None
        components = upgrade_components(UpgradeOffer("", sku, None)) if sku else None
        return Reply(embed=premium_embed(shown), components=components, ephemeral=True)

    await answer(ctx, work(), defer_after=services.defer_after_seconds)


PLUGINS: typing.Final = (plugin,)
