"""`townsquare xp ...`: XP administration from the command line (the feature's `cli`)."""

from __future__ import annotations

import asyncio
from pathlib import Path  # noqa: TC003 - typer reads the annotations at run time
from typing import Annotated

import typer

from townsquare.cli_support import SettingsOption, fail, services, settings_from
from townsquare.core.keyspace import Keyspace
from townsquare.core.redis_client import connect_redis
from townsquare.features.xp.domain.config import XPSection

__all__ = ["APP"]

APP = typer.Typer(help="XP administration.", no_args_is_help=True)


@APP.command("import-mee6")
def xp_import_mee6(
    file: Annotated[
        Path, typer.Argument(help="MEE6 leaderboard JSON (docs/xp.md).", dir_okay=False)
    ],
    guild: Annotated[int, typer.Option("--guild", help="Guild id to import into.", min=1)],
    settings_file: SettingsOption = None,
) -> None:
    """Set a guild's XP totals from a MEE6-style leaderboard file, with a progress bar."""
    import getpass

    from townsquare.core import db
    from townsquare.core.audit.models import ActorKind
    from townsquare.core.audit.service import Actor
    from townsquare.core.config.cache import get_config
    from townsquare.features.xp.domain.curve import curve_for
    from townsquare.features.xp.domain.mee6 import Mee6ImportError, import_mee6

    settings = settings_from(settings_file)
    keyspace = Keyspace(settings.redis.namespace)
    with services(settings) as (redis_url, database_url):

        async def run() -> int:
            client = connect_redis(redis_url)
            try:
                async with db.connect(database_url, pool_max=2):
                    config = await get_config(client, keyspace, guild, settings.guild_defaults)
                    with typer.progressbar(length=0, label="importing") as bar:

                        def progress(done: int, total: int) -> None:
                            bar.length = total
                            bar.update(done - bar.pos)

                        return await import_mee6(
                            client,
                            keyspace,
                            file,
                            guild,
                            progress,
                            curve=curve_for(config.config.section(XPSection)),
                            actor=Actor(ActorKind.OPERATOR, None, getpass.getuser()),
                        )
            finally:
                await client.aclose()

        try:
            imported = asyncio.run(run())
        except Mee6ImportError as error:
            fail(f"{file}: {error}", 2)
    typer.echo(f"imported {imported} member(s) into guild {guild}")
