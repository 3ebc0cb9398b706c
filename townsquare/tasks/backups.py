"""Scheduled backups (`backups.*` settings), run by the scheduler process (docs/backups.md).

Beside its schedule loop, `townsquare scheduler` (and the single-process `up`) runs
:func:`run_scheduled_backups`: when the newest scheduled archive in `backups.directory` is
`backups.interval_seconds` old (or there is none), it takes the `backup_lock` lease, so one
scheduler of several writes the archive, renews the lease while `pg_dump` and the Redis export
run, then deletes the archives beyond the newest `backups.keep` (and what killed backups left,
an hour old or more). A failed backup raises an
operator alert and is tried again after a tenth of the interval. The archive is written under a
temporary name and renamed once whole, so a scheduler killed mid-way leaves no half archive.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import typing

import structlog
from redis.exceptions import RedisError

from townsquare.core.alerts import raise_alert
from townsquare.core.backup import (
    BackupError,
    due,
    prune,
    remove_leftovers,
    scheduled_name,
    write_backup,
)
from townsquare.core.redis_client import connect_redis
from townsquare.tasks._waiting import wait_or_stop
from townsquare.tasks.locks import RedisLease

if typing.TYPE_CHECKING:
    from pathlib import Path

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings

__all__ = ["backup_directory", "backup_once", "run_scheduled_backups"]

logger = structlog.get_logger(__name__)

_LEFTOVER_SECONDS: typing.Final = 3600.0
"""A `.partial` or scratch folder this old in the backups directory is a killed backup's."""
_RETRY_FRACTION: typing.Final = 10
"""A failed backup is tried again after interval / this."""


def backup_directory(settings: Settings) -> Path:
    """`backups.directory`, inside `paths.var_dir` when relative."""
    directory = settings.backups.directory
    return directory if directory.is_absolute() else settings.paths.var_dir / directory


async def backup_once(
    settings: Settings, redis_url: str, database_url: str, keyspace: Keyspace
) -> Path | None:
    """Write one scheduled archive under the lease and prune; None when another holds it."""
    directory = backup_directory(settings).resolve()
    redis = connect_redis(redis_url)
    lease = RedisLease(redis, keyspace.key("backup_lock"), float(keyspace.ttl("backup_lock") or 60))
    try:
        async with lease.held() as acquired:
            if not acquired:
                return None
            renewing = asyncio.create_task(_renew(lease))
            try:
                now = datetime.datetime.now(datetime.UTC)
                interval = settings.backups.interval_seconds
                if await asyncio.to_thread(due, directory, interval, now) > 0:
                    return None  # another scheduler wrote it while this one waited for the lease
                # What a killed backup left (no backup of ours runs now: the lease is ours).
                await asyncio.to_thread(remove_leftovers, directory, _LEFTOVER_SECONDS)
                summary = await write_backup(
                    directory / scheduled_name(now),
                    database_url=database_url,
                    redis_url=redis_url,
                    keyspace=keyspace,
                )
                pruned = await asyncio.to_thread(prune, directory, settings.backups.keep)
            finally:
                renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewing
    finally:
        await redis.aclose()
    logger.info(
        "backups.written",
        path=str(summary.path),
        redis_keys=summary.manifest["redis"]["keys"],
        pruned=[path.name for path in pruned],
    )
    return summary.path


async def _renew(lease: RedisLease) -> None:
    while True:
        await asyncio.sleep(lease.ttl_ms / 3000)
        with contextlib.suppress(RedisError, OSError):
            await lease.renew()


async def run_scheduled_backups(
    settings: Settings,
    redis_url: str,
    database_url: str,
    keyspace: Keyspace,
    *,
    stop: asyncio.Event,
) -> None:
    """Back up whenever one is due until `stop` is set; returns at once when disabled."""
    options = settings.backups
    if not options.enabled:
        return
    directory = backup_directory(settings).resolve()
    logger.info("backups.scheduled", directory=str(directory), every=options.interval_seconds)
    while not stop.is_set():
        now = datetime.datetime.now(datetime.UTC)
        wait = await asyncio.to_thread(due, directory, options.interval_seconds, now)
        if wait > 0:
            # Wake at least a minute apart: an archive written by another scheduler counts.
            await wait_or_stop(stop, min(wait, 60.0))
            continue
        try:
            written = await backup_once(settings, redis_url, database_url, keyspace)
        except (BackupError, RedisError, OSError) as error:
            logger.exception("backups.failed")
            with contextlib.suppress(RedisError, OSError):
                await _alert(redis_url, keyspace, f"scheduled backup failed: {error}")
            await wait_or_stop(stop, options.interval_seconds / _RETRY_FRACTION)
            continue
        if written is None:
            await wait_or_stop(stop, float(keyspace.ttl("backup_lock") or 60) / 3)


async def _alert(redis_url: str, keyspace: Keyspace, message: str) -> None:
    client = connect_redis(redis_url)
    try:
        await raise_alert(client, keyspace, source="backups", message=message, key="backups/failed")
    finally:
        await client.aclose()
