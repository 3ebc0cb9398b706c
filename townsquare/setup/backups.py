"""`townsquare backup FILE` and `townsquare restore FILE` (added by `cli.py`; docs/backups.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from townsquare.cli_support import SettingsOption, fail, services, settings_from
from townsquare.core.backup import BackupError, read_manifest, restore_backup, write_backup
from townsquare.core.keyspace import Keyspace

__all__ = ["backup", "restore"]

ArchiveArgument = Annotated[
    Path, typer.Argument(help="The archive file (a tar).", dir_okay=False, show_default=False)
]


def backup(archive: ArchiveArgument, settings_file: SettingsOption = None) -> None:
    """Write one archive of the database and the Redis state that matters (online).

    The archive holds a manifest (version, schema migrations, time, contents), PostgreSQL
    dumped by pg_dump (custom format) and the namespace's Redis keys that are not rebuilt.
    """
    settings = settings_from(settings_file)
    keyspace = Keyspace(settings.redis.namespace)
    with services(settings) as (redis_url, database_url):
        try:
            summary = asyncio.run(
                write_backup(
                    archive, database_url=database_url, redis_url=redis_url, keyspace=keyspace
                )
            )
        except BackupError as error:
            fail(f"backup failed: {error}")
    manifest = summary.manifest
    typer.echo(
        f"wrote {summary.path}: PostgreSQL {manifest['postgres']['server_version']} "
        f"({manifest['postgres']['bytes']} bytes), {manifest['redis']['keys']} Redis keys, "
        f"schema at {manifest['schema']['latest']}"
    )


def restore(
    archive: ArchiveArgument,
    settings_file: SettingsOption = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="Only read the archive's manifest and say what it holds."),
    ] = False,
) -> None:
    """Restore an archive into an empty database and an empty Redis namespace.

    Refuses, before writing anything, an archive that is damaged or from a newer schema, a
    database that has tables and a namespace that has keys. Stop the platform first; start it
    afterwards (`townsquare up` applies the migrations newer than the archive's).
    """
    settings = settings_from(settings_file)
    if check:
        try:
            manifest = read_manifest(archive)
        except BackupError as error:
            fail(f"cannot restore: {error}")
        typer.echo(
            f"{archive}: Townsquare {manifest['townsquare_version']}, written "
            f"{manifest['created_at']}, schema at {manifest['schema']['latest']}, "
            f"{manifest['redis']['keys']} Redis keys"
        )
        return
    keyspace = Keyspace(settings.redis.namespace)
    with services(settings) as (redis_url, database_url):
        try:
            summary = asyncio.run(
                restore_backup(
                    archive, database_url=database_url, redis_url=redis_url, keyspace=keyspace
                )
            )
        except BackupError as error:
            fail(f"cannot restore: {error}")
    typer.echo(
        f"{'resumed and ' if summary.resumed else ''}restored {archive} (written "
        f"{summary.manifest['created_at']}): PostgreSQL, {summary.redis_keys} Redis keys"
    )
    if summary.newer_migrations:
        typer.echo(
            f"{len(summary.newer_migrations)} newer migration(s) to apply: `townsquare up` "
            "(or `townsquare migrate`) applies them"
        )
