"""`/giveaway start|end|cancel|reroll|list` and the giveaway buttons (shards: hikari-arc)."""

from __future__ import annotations

import typing

import arc
import hikari  # noqa: TC002 - arc reads the listeners' annotations at run time

from townsquare.features.giveaways.commands.buttons import GiveawayEvents
from townsquare.features.giveaways.commands.manage import (
    giveaway_cancel,
    giveaway_end,
    giveaway_list,
    giveaway_reroll,
)
from townsquare.features.giveaways.commands.start import giveaway_start
from townsquare.shards.commands.services import CommandServices

__all__ = ["PLUGINS", "plugin"]

plugin = arc.GatewayPlugin("giveaways")

group = plugin.include_slash_group(
    "giveaway", "Run giveaways (needs Manage Server or a manager role)."
)
for _command in (giveaway_start, giveaway_end, giveaway_cancel, giveaway_reroll, giveaway_list):
    group.include(_command)

_events = GiveawayEvents(lambda: plugin.client.get_type_dependency(CommandServices))


@plugin.listen()
async def _on_interaction(event: hikari.InteractionCreateEvent) -> None:
    await _events.on_interaction(event)


@plugin.listen()
async def _on_message_deleted(event: hikari.GuildMessageDeleteEvent) -> None:
    await _events.on_message_deleted(event)


PLUGINS: typing.Final = (plugin,)
