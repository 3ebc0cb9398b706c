"""Scheduled backups: one archive when due, under the lease, and retention keeps the newest."""

from __future__ import annotations

import asyncio
import os
import time
import typing

import redis.asyncio as aioredis

from tests.support.settings import settings_in
from tests.support.waiting import wait_until
from townsquare.core.backup import archives, read_manifest
from townsquare.tasks.backups import backup_once, run_scheduled_backups

if typing.TYPE_CHECKING:
    from pathlib import Path

    from townsquare.core.keyspace import Keyspace

OLD = ("townsquare-20200101T000000Z.tar", "townsquare-20200102T000000Z.tar")


async def test_a_due_backup_is_written_once_and_only_the_newest_are_kept(
    database_url: str, redis_url: str, redis: aioredis.Redis, keyspace: Keyspace, tmp_path: Path
) -> None:
    directory = tmp_path / "backups"
    directory.mkdir()
    for name in OLD:
        (directory / name).write_bytes(b"an old archive")
    (directory / "by-hand.tar").write_bytes(b"never pruned")
    # What a backup killed two hours ago left: removed by the next scheduled one.
    killed = [
        directory / "townsquare-20200103T000000Z.tar.partial",
        directory / ".townsquare-backup-x",
    ]
    killed[0].write_bytes(b"half")
    killed[1].mkdir()
    for path in killed:
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    settings = settings_in(
        "backups", enabled=True, interval_seconds=3600, directory=directory, keep=2
    )
    await redis.set(keyspace.key("xp_loaded", 1191168914235719680), "1")

    # Another scheduler holds the lease: this one writes nothing.
    await redis.set(keyspace.key("backup_lock"), "another", ex=60)
    assert await backup_once(settings, redis_url, database_url, keyspace) is None
    await redis.delete(keyspace.key("backup_lock"))

    stop = asyncio.Event()
    running = asyncio.create_task(
        run_scheduled_backups(settings, redis_url, database_url, keyspace, stop=stop)
    )
    try:
        await wait_until(
            lambda: len(archives(directory)) == 2 and archives(directory)[0][1].name == OLD[1],
            within=60,
            what="a new archive and the oldest pruned",
        )
    finally:
        stop.set()
        await running
    newest = archives(directory)[-1][1]
    assert read_manifest(newest)["redis"]["keys"] == 1
    assert (directory / "by-hand.tar").exists()
    assert not list(directory.glob("*.partial"))
    assert not any(path.exists() for path in killed)
    # Not due again for an hour: another run writes nothing.
    assert await backup_once(settings, redis_url, database_url, keyspace) is None
