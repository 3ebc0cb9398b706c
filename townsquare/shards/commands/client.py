"""The command clients on a shard process's `GatewayBot`: hikari-arc and hikari-miru.

Each enabled feature's `commands` module brings its plugins (`PLUGINS`); this module knows no
feature by name. Commands are registered by bulk overwrite when the bot has started, by the
process that runs shard 0 only (every process answers the commands of its own shards: arc finds
a command by name). Against the sandbox they are guild commands in every guild the bot is in (up to
:data:`MAX_COMMAND_GUILDS`), so they appear at once; against Discord they are global.
"""

from __future__ import annotations

import dataclasses
import typing

import arc
import hikari
import miru
import structlog

from townsquare.core.features import adapter_modules
from townsquare.shards.commands.confirm import Buttons
from townsquare.shards.commands.services import CommandServices, Refusal, outage_reply

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    from townsquare.core.discord import DiscordTarget

__all__ = [
    "MAX_COMMAND_GUILDS",
    "CommandClients",
    "attach_commands",
    "command_guild_ids",
    "feature_plugins",
]

_log = structlog.get_logger(__name__)

MAX_COMMAND_GUILDS: typing.Final = 25
"""Up to this many guilds get guild commands against the sandbox; more get global ones."""


@dataclasses.dataclass(frozen=True, slots=True)
class CommandClients:
    commands: arc.GatewayClient
    buttons: Buttons

    def close(self) -> None:
        """Stop the running button views (call when the bot stops)."""
        self.buttons.stop_all()


async def command_guild_ids(target: DiscordTarget) -> tuple[int, ...] | None:
    """The guilds to register the commands in, or None for global commands.

    The guilds the bot is in, asked through a short-lived REST client; more than
    :data:`MAX_COMMAND_GUILDS` are registered globally instead (two requests per guild would
    hold up the start for long).
    """
    app = hikari.RESTApp(url=target.rest_url)
    await app.start()
    try:
        async with app.acquire(target.token.get_secret_value(), hikari.TokenType.BOT) as rest:
            ids = [int(guild.id) async for guild in rest.fetch_my_guilds()]
    finally:
        await app.close()
    return tuple(ids) if len(ids) <= MAX_COMMAND_GUILDS else None


def attach_commands(
    bot: hikari.GatewayBot,
    services: CommandServices,
    *,
    register: bool,
    guild_ids: Sequence[int] | None = None,
) -> CommandClients:
    """Attach the slash commands and buttons to `bot` (before it starts).

    `register`: overwrite the application's commands once the bot has started; `guild_ids`:
    register them in these guilds instead of globally.
    """
    client = arc.GatewayClient(
        bot,
        default_enabled_guilds=hikari.UNDEFINED if guild_ids is None else list(guild_ids),
        autosync=register,
        autodefer=False,  # `answer` defers itself, only when an answer is slow
        invocation_contexts=[hikari.ApplicationContextType.GUILD],
    )
    buttons = Buttons(miru.Client.from_arc(client, ignore_unknown_interactions=True))
    client.set_type_dependency(CommandServices, services)
    client.set_type_dependency(Buttons, buttons)
    client.set_error_handler(_on_error)
    for plugin in feature_plugins():
        client.add_plugin(plugin)
    return CommandClients(client, buttons)


def feature_plugins() -> list[arc.GatewayPlugin]:
    """The arc plugins of the enabled features (their `commands` modules' `PLUGINS`)."""
    return [plugin for module in adapter_modules("commands") for plugin in module.PLUGINS]


async def _on_error(ctx: arc.GatewayContext, error: Exception) -> None:
    if isinstance(error, Refusal):
        reason = error.reason
    elif (unavailable := outage_reply(error)) is not None:  # raised outside `answer`'s work
        reason = unavailable
    else:
        _log.error("command_failed", command=ctx.command.qualified_name, exc_info=error)
        reason = "Something went wrong on our side; it has been logged. Please try again later."
    try:
        await ctx.respond(reason, flags=hikari.MessageFlag.EPHEMERAL)
    except hikari.HikariError as failure:
        _log.warning("command_error_not_shown", error=repr(failure))
