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

from townsquare.core.config.schemas import GuildConfig
from townsquare.shards.commands.services import (
    INJECTED,
    CommandServices,
    Reply,
    answer,
)

__all__ = ["PLUGINS", "config_embed", "plugin"]

plugin = arc.GatewayPlugin("config")

config = plugin.include_slash_group(
    "config", "This server's bot configuration (needs Manage Server or a manager role)."
)


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def config_embed(document: GuildConfig, version: int) -> hikari.Embed:
    """The configuration's main switches and numbers as an embed."""
    xp, levels, moderation = document.xp, document.levels, document.moderation
    embed = hikari.Embed(title="Server configuration", colour=hikari.Color(0x5865F2))
    embed.add_field(
        "XP",
        f"{_on(xp.enabled)} · {xp.per_message_min}-{xp.per_message_max} a message · "
        f"cooldown {xp.cooldown_seconds} s · {xp.curve.kind} curve to level {xp.max_level}",
    )
    embed.add_field("Voice XP", f"{_on(xp.voice.enabled)} · {xp.voice.xp_per_minute} a minute")
    embed.add_field("Level-ups", f"rewards {levels.reward_mode} · notices {levels.notice.mode}")
    embed.add_field(
        "Moderation",
        f"automod {_on(moderation.automod.enabled)} · "
        f"{len(moderation.escalation)} escalation steps",
    )
    embed.add_field("AI", _on(document.ai.enabled))
    managers = " ".join(f"<@&{role_id}>" for role_id in document.commands.manager_role_ids)
    embed.add_field("Manager roles", managers or "none: Manage Server only")
    return embed.set_footer(f"Version {version} · change it on the dashboard")


@config.include
@arc.slash_subcommand("show", "Show this server's configuration (only to you).")
async def config_show(ctx: arc.GatewayContext, services: CommandServices = INJECTED) -> None:
    async def work() -> Reply:
        guild_id, _ = await services.managed_guild(ctx, "see the configuration")
        shown = await services.client().config(guild_id)
        document = GuildConfig.model_validate(shown.config)
        return Reply(embed=config_embed(document, shown.version), ephemeral=True)

    await answer(ctx, work(), defer_after=services.defer_after_seconds)


PLUGINS: typing.Final = (plugin,)
