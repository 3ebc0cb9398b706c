"""Echo's slash command: `/echo text` answers `echo: text` (shard side, hikari-arc)."""

from __future__ import annotations

import typing

import arc

from tests.support.echo.domain import echo
from townsquare.shards.commands.services import INJECTED, CommandServices, Reply, answer

__all__ = ["PLUGINS"]

plugin = arc.GatewayPlugin("echo")


@plugin.include
@arc.slash_command("echo", "Say it back.")
async def echo_command(
    ctx: arc.GatewayContext,
    text: typing.Annotated[str, arc.StrParams("What to say.")],
    services: CommandServices = INJECTED,
) -> None:
    async def work() -> Reply:
        return Reply(content=echo(text))

    await answer(ctx, work(), defer_after=services.defer_after_seconds)


PLUGINS: typing.Final = (plugin,)
