"""`/config show`: a summary of the server's configuration, for the server's managers.

Managers are members with Manage Server (or Administrator) and members with one of the
configured manager roles, as for `/xp`.

The document comes from the internal API (the HTTP service reads it through the Redis config
cache); the answer is ephemeral, since settings such as banned words are not for everyone.
"""

from __future__ import annotations

import typing

import arc
import hikari

from townsquare.core.features import guild_config_model
from townsquare.shards.commands.services import (
    INJECTED,
    CommandServices,
    Reply,
    answer,
)

if typing.TYPE_CHECKING:
    from townsquare.core.config.schemas import GuildConfig

__all__ = ["PLUGINS", "config_embed", "plugin"]

plugin = arc.GatewayPlugin("config")

config = plugin.include_slash_group(
    "config", "This server's bot configuration (needs Manage Server or a manager role)."
)


def config_embed(document: GuildConfig, version: int) -> hikari.Embed:
    """The configuration's main switches and numbers as an embed: each section's summary
    (`ConfigSection.summary`), in document order."""
    embed = hikari.Embed(title="Server configuration", colour=hikari.Color(0x5865F2))
    for section in document.sections().values():
        for name, value in section.summary():
            embed.add_field(name, value)
    return embed.set_footer(f"Version {version} · change it on the dashboard")


@config.include
@arc.slash_subcommand("show", "Show this server's configuration (only to you).")
async def config_show(ctx: arc.GatewayContext, services: CommandServices = INJECTED) -> None:
    async def work() -> Reply:
        guild_id, _ = await services.managed_guild(ctx, "see the configuration")
        shown = await services.client().config(guild_id)
        document = guild_config_model().model_validate(shown.config)
        return Reply(embed=config_embed(document, shown.version), ephemeral=True)

    await answer(ctx, work(), defer_after=services.defer_after_seconds)


PLUGINS: typing.Final = (plugin,)
