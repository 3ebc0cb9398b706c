"""`townsquare giveaways verify ID`: recompute a giveaway's draw from its seed and entries."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from townsquare.cli_support import SettingsOption, fail, services, settings_from

__all__ = ["APP"]

APP = typer.Typer(help="Giveaways.", no_args_is_help=True)


@APP.command("verify")
def giveaways_verify(
    giveaway_id: Annotated[int, typer.Argument(help="The giveaway's number.", min=1)],
    settings_file: SettingsOption = None,
) -> None:
    """Recompute the draw (docs/giveaways.md) and compare it with the recorded winners."""
    from townsquare.core import db
    from townsquare.features.giveaways.domain.proof import Proof, proof_of

    settings = settings_from(settings_file)
    with services(settings) as (_, database_url):

        async def run() -> Proof | None:
            async with db.connect(database_url, pool_max=2):
                return await proof_of(giveaway_id)

        proof = asyncio.run(run())
    if proof is None:
        fail(f"there is no giveaway #{giveaway_id}", 2)
    typer.echo(f"giveaway #{proof.giveaway_id}")
    typer.echo(f"seed          {proof.seed}")
    typer.echo(f"SHA-256       {proof.seed_hash}")
    typer.echo(f"entries       {proof.entries} (digest {proof.digest})")
    for position, user_id in enumerate(proof.candidates):
        typer.echo(f"position {position:>4}: {user_id}")
    if not proof.ok:
        for problem in proof.problems:
            typer.echo(f"MISMATCH: {problem}", err=True)
        raise typer.Exit(1)
    typer.echo("verified: the recorded picks are the seed's draw")
