"""`townsquare assistant ...`: the assistant from the command line (the feature's `cli`)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from townsquare.cli_support import SettingsOption, fail, services, settings_from
from townsquare.core.redis_client import connect_redis

__all__ = ["APP"]

APP = typer.Typer(help="The Gemini assistant.", no_args_is_help=True)


@APP.command("demo")
def assistant_demo(
    guild: Annotated[
        int | None,
        typer.Option("--guild", help="Guild id (default: the sandbox's first guild).", min=1),
    ] = None,
    settings_file: SettingsOption = None,
) -> None:
    """Turn the assistant on in the demo guild with its rules and FAQ as documents (again:
    nothing changes), so `@Townsquare what are the rules about links?` gets a cited answer.
    `townsquare up` does this by itself against the sandbox; this is for another guild."""
    import hikari

    from townsquare.core import db
    from townsquare.core.discord import DiscordTargetError, resolve_discord_target
    from townsquare.core.features import DemoContext
    from townsquare.core.keyspace import Keyspace
    from townsquare.features.assistant.domain.demo import seed_demo

    settings = settings_from(settings_file)
    keyspace = Keyspace(settings.redis.namespace)
    try:
        target = resolve_discord_target(settings)
    except DiscordTargetError as error:
        fail(str(error), 2)

    async def first_guild() -> int:
        app = hikari.RESTApp(url=target.rest_url)
        await app.start()
        try:
            async with app.acquire(target.token.get_secret_value(), hikari.TokenType.BOT) as rest:
                async for found in rest.fetch_my_guilds():
                    return int(found.id)
        finally:
            await app.close()
        fail("the bot is in no guild", 2)
        return 0

    with services(settings) as (redis_url, database_url):

        async def run() -> int:
            guild_id = guild or await first_guild()
            client = connect_redis(redis_url)
            try:
                async with db.connect(database_url, pool_max=2):
                    await seed_demo(DemoContext(settings, client, keyspace, guild_id))
            finally:
                await client.aclose()
            return guild_id

        guild_id = asyncio.run(run())
    typer.echo(f"the assistant answers in guild {guild_id}, from its rules and FAQ")
