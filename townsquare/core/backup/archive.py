"""One backup archive: a tar file with `manifest.json`, `postgres.dump` and `redis.jsonl.gz`.

The manifest says what made it (Townsquare's version, the time, the migrations applied), and
what each member holds with its size and SHA-256. An archive is written under a temporary
name beside its target and renamed into place once complete, so a backup killed at any
instant leaves either the whole archive or none (plus a `.partial` file and a
`.townsquare-backup-*` scratch folder, never taken for an archive; the scheduled backups
remove them).

A restore checks everything before it writes anything: the archive whole and readable (sizes,
digests, `pg_restore --list`), a schema this Townsquare knows (no migration it lacks), an
empty database and an empty Redis namespace. Then it marks the namespace (`restore` key),
restores PostgreSQL in one transaction, writes the Redis keys and removes the mark. A
restore killed half-way finds its own mark the next time and resumes from the stage it
reached; anything else in the way is refused, with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import tarfile
import tempfile
import typing
import uuid
from pathlib import Path

from townsquare import __version__
from townsquare.core.backup import postgres, redis_state
from townsquare.core.backup.postgres import BackupError
from townsquare.core.redis_client import connect_redis

if typing.TYPE_CHECKING:
    from collections.abc import Iterator

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = [
    "FORMAT",
    "MANIFEST",
    "BackupError",
    "BackupSummary",
    "RestoreSummary",
    "read_manifest",
    "restore_backup",
    "write_backup",
]

FORMAT: typing.Final = 1
"""The archive layout's version; a newer one is refused by this Townsquare."""
MANIFEST: typing.Final = "manifest.json"
POSTGRES_MEMBER: typing.Final = "postgres.dump"
REDIS_MEMBER: typing.Final = "redis.jsonl.gz"


@dataclasses.dataclass(frozen=True, slots=True)
class BackupSummary:
    path: Path
    manifest: dict[str, typing.Any]


@dataclasses.dataclass(frozen=True, slots=True)
class RestoreSummary:
    manifest: dict[str, typing.Any]
    redis_keys: int
    newer_migrations: list[str]
    """Migrations this Townsquare has that the archive's schema lacks: `migrate` applies them."""
    resumed: bool


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(1 << 20):
            sha.update(block)
    return sha.hexdigest()


def _member(path: Path, name: str) -> dict[str, typing.Any]:
    return {"name": name, "bytes": path.stat().st_size, "sha256": _digest(path)}


async def write_backup(
    path: Path, *, database_url: str, redis_url: str, keyspace: Keyspace
) -> BackupSummary:
    """Write one archive of the database and the namespace's Redis state to `path`."""
    created = datetime.datetime.now(datetime.UTC)
    path = await asyncio.to_thread(_prepare, path)
    with tempfile.TemporaryDirectory(prefix=".townsquare-backup-", dir=path.parent) as scratch:
        work = Path(scratch)
        tool, server_version = await postgres.dump(database_url, work / POSTGRES_MEMBER)
        migrations = await postgres.applied_migrations(database_url)
        redis = connect_redis(redis_url)
        try:
            keys, families = await redis_state.export_namespace(
                redis, keyspace, work / REDIS_MEMBER
            )
        finally:
            await redis.aclose()
        manifest: dict[str, typing.Any] = {
            "format": FORMAT,
            "backup_id": uuid.uuid4().hex,
            "townsquare_version": __version__,
            "created_at": created.isoformat(),
            "schema": {"migrations": migrations, "latest": migrations[-1] if migrations else None},
            "postgres": {"server_version": server_version, "pg_dump_major": tool.major},
            "redis": {
                "namespace": keyspace.namespace,
                "keys": keys,
                "families": dict(sorted(families.items())),
                "skipped_families": sorted(redis_state.SKIPPED_FAMILIES),
            },
        }
        await asyncio.to_thread(_pack, work, manifest, path)
    return BackupSummary(path, manifest)


def _prepare(path: Path) -> Path:
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _pack(work: Path, manifest: dict[str, typing.Any], path: Path) -> None:
    """Describe the members in the manifest, then write the tar beside `path` and rename it."""
    manifest["postgres"].update(_member(work / POSTGRES_MEMBER, POSTGRES_MEMBER))
    manifest["redis"].update(_member(work / REDIS_MEMBER, REDIS_MEMBER))
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    partial = path.with_name(path.name + ".partial")
    with tarfile.open(partial, "w") as archive:
        for name in (MANIFEST, POSTGRES_MEMBER, REDIS_MEMBER):
            archive.add(work / name, arcname=name)
    with partial.open("rb") as written:
        os.fsync(written.fileno())
    partial.replace(path)


def read_manifest(path: Path) -> dict[str, typing.Any]:
    """The archive's manifest; raises BackupError when `path` is no Townsquare archive."""
    try:
        with tarfile.open(path, "r") as archive:
            member = archive.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            manifest = json.loads(member.read())
    except FileNotFoundError:
        raise BackupError(f"{path}: no such file") from None
    except (tarfile.TarError, KeyError, ValueError, OSError) as error:
        raise BackupError(f"{path} is not a Townsquare backup archive ({error})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("format"), int):
        raise BackupError(f"{path}: the manifest is not a Townsquare backup manifest")
    if manifest["format"] > FORMAT:
        raise BackupError(
            f"{path} was written by a newer Townsquare ({manifest.get('townsquare_version')}, "
            f"archive format {manifest['format']}); upgrade Townsquare to restore it"
        )
    return manifest


@contextlib.contextmanager
def _unpacked(path: Path, manifest: dict[str, typing.Any]) -> Iterator[Path]:
    """The archive's members in a scratch directory, each checked against the manifest."""
    with tempfile.TemporaryDirectory(prefix=".townsquare-restore-") as scratch:
        work = Path(scratch)
        with tarfile.open(path, "r") as archive:
            for section in ("postgres", "redis"):
                expected = manifest[section]
                name = expected["name"]
                if name not in (POSTGRES_MEMBER, REDIS_MEMBER):
                    raise BackupError(f"{path}: unexpected member {name!r} in the manifest")
                try:
                    archive.extract(name, work, filter="data")
                except (KeyError, tarfile.TarError, OSError) as error:
                    raise BackupError(f"{path}: cannot read {name} ({error})") from None
                if _member(work / name, name) != {
                    "name": name,
                    "bytes": expected["bytes"],
                    "sha256": expected["sha256"],
                }:
                    raise BackupError(
                        f"{path}: {name} does not match its manifest (size or SHA-256): the "
                        "archive is damaged"
                    )
        yield work


def _schema_check(manifest: dict[str, typing.Any]) -> list[str]:
    """Refuse a schema newer than this Townsquare's; the migrations it still needs."""
    known = postgres.known_migrations()
    archived = list(manifest["schema"]["migrations"])
    unknown = [name for name in archived if name not in known]
    if unknown:
        raise BackupError(
            f"the archive's schema is newer than this Townsquare's ({__version__}): it has "
            f"migration(s) {', '.join(unknown)} that this version does not know; upgrade "
            f"Townsquare (the archive was written by {manifest.get('townsquare_version')})"
        )
    return [name for name in known if name not in archived]


async def restore_backup(
    path: Path, *, database_url: str, redis_url: str, keyspace: Keyspace
) -> RestoreSummary:
    """Restore the archive into an empty database and an empty namespace (see the module)."""
    manifest = read_manifest(path)
    newer = _schema_check(manifest)
    backup_id = str(manifest["backup_id"])
    with _unpacked(path, manifest) as work:
        dumped_by = int(manifest["postgres"]["pg_dump_major"])
        try:
            await postgres.list_archive(work / POSTGRES_MEMBER, dumped_by)
            lines = redis_state.read_lines(work / REDIS_MEMBER)
        except (BackupError, ValueError, OSError) as error:
            raise BackupError(f"{path}: the archive is damaged ({error})") from None
        redis = connect_redis(redis_url)
        try:
            marker_key = keyspace.key("restore")
            stage = await _stage(redis, keyspace, marker_key, backup_id)
            resumed = stage is not None
            if stage is None:
                if await postgres.user_relations(database_url):
                    raise BackupError(
                        "the target database is not empty: restore into a fresh database "
                        "(a new database.url, or a new var/ for the embedded PostgreSQL); "
                        "nothing was written"
                    )
                stage = "postgres"
                await redis.set(marker_key, json.dumps({"backup_id": backup_id, "stage": stage}))
            if stage == "postgres":
                if await postgres.user_relations(database_url):
                    # Killed after PostgreSQL's transaction committed, before the mark moved on.
                    stage = "redis"
                else:
                    await postgres.restore(database_url, work / POSTGRES_MEMBER, dumped_by)
                    stage = "redis"
                await redis.set(marker_key, json.dumps({"backup_id": backup_id, "stage": stage}))
            written = await redis_state.import_lines(redis, keyspace, lines)
            await redis.delete(marker_key)
        finally:
            await redis.aclose()
    return RestoreSummary(manifest, written, newer, resumed=resumed)


async def _stage(
    redis: aioredis.Redis, keyspace: Keyspace, marker_key: str, backup_id: str
) -> str | None:
    """The stage of an interrupted restore of this archive, or None when the namespace is
    empty; refuses a namespace in use and another archive's interrupted restore."""
    raw = await redis.get(marker_key)
    if raw is not None:
        marker = json.loads(raw)
        if marker.get("backup_id") != backup_id:
            raise BackupError(
                f"namespace {keyspace.namespace!r} holds an interrupted restore of another "
                f"archive (backup {marker.get('backup_id')}); finish that one, or restore into "
                "a fresh database and namespace; nothing was written"
            )
        return str(marker["stage"])
    async for key in redis_state.namespace_keys(redis, keyspace):
        raise BackupError(
            f"the Redis namespace {keyspace.namespace!r} is already in use (it has keys, e.g. "
            f"{key.decode(errors='replace')}): stop the platform and restore into an empty "
            "namespace (another redis.namespace, or a fresh Redis); nothing was written"
        )
    return None
