"""`townsquare backup` / `restore`: a populated system round-trips, and what must be refused is.

Real PostgreSQL and Redis: a migrated database with XP, giveaways, guild configuration,
premium, moderation, live alerts and assistant rows, and a namespace with the hot state their
writers keep in Redis (XP hashes, dirty sets, giveaway entries, timers, a pipeline stream with
a consumer group and a delivered but unacknowledged entry). Backed up, wiped (a fresh
database, an empty namespace), restored:
every table and every exported key is the same.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import subprocess
import sys
import tarfile
import typing
import uuid

import asyncpg
import pytest
import redis.asyncio as aioredis
from typer.testing import CliRunner

from tests.support.databases import scratch_database
from tests.support.redis_cluster import ON_CLUSTER_TOO
from townsquare.cli import app
from townsquare.core import db
from townsquare.core.backup import (
    BackupError,
    postgres,
    read_manifest,
    restore_backup,
    write_backup,
)
from townsquare.core.backup.postgres import known_migrations
from townsquare.core.keyspace import Keyspace, guild_bucket
from townsquare.core.redis_client import connect_redis

if typing.TYPE_CHECKING:
    from pathlib import Path

GUILD = 1191168914235719680
MEMBERS = (101, 202, 303)


async def _populate(database_url: str) -> None:
    from townsquare.core.config.models import GuildConfigRecord
    from townsquare.core.guard.models import Case, CaseStatus
    from townsquare.core.guilds.models import Guild
    from townsquare.features.assistant.domain.models import KnowledgeChunk, KnowledgeDocument
    from townsquare.features.giveaways.domain.models import Giveaway, GiveawayEntry, GiveawayState
    from townsquare.features.premium.domain.models import PremiumSource, PremiumSubscription
    from townsquare.features.streams.domain.models import Creator, Feed, Platform
    from townsquare.features.xp.domain.models import LevelReward, MemberXP

    now = datetime.datetime.now(datetime.UTC)
    async with db.connect(database_url, pool_max=2):
        guild = await Guild.create(id=GUILD, name="Town Square Demo", owner_id=MEMBERS[0])
        await GuildConfigRecord.create(
            guild=guild, version=3, schema_version=1, document={"xp": {"enabled": True}}
        )
        for rank, user in enumerate(MEMBERS, 1):
            await MemberXP.create(guild=guild, user_id=user, xp=1000 * rank, level=rank * 2)
        await LevelReward.create(guild=guild, level=5, role_id=555)
        giveaway = await Giveaway.create(
            guild=guild,
            channel_id=777,
            host_id=MEMBERS[0],
            prize="a mug",
            winner_count=1,
            state=GiveawayState.RUNNING,
            starts_at=now,
            ends_at=now + datetime.timedelta(hours=1),
            requirements={"min_level": 2},
            claim_window_seconds=3600,
            max_rerolls=2,
            seed="s" * 64,
            seed_hash="h" * 64,
        )
        for user in MEMBERS:
            await GiveawayEntry.create(
                giveaway=giveaway, user_id=user, weight=1, active=True, entered_at=now,
                updated_at=now,
            )  # fmt: skip
        await PremiumSubscription.create(
            guild=guild, tier="plus", source=PremiumSource.MANUAL, starts_at=now
        )
        await Case.create(
            guild_id=GUILD, number=1, key="warn-1", action="warn", source="command",
            actor_kind="member", actor_id=MEMBERS[0], target_id=MEMBERS[1],
            reason="spam", status=CaseStatus.EXECUTED, points=1, occurred_at=now,
        )  # fmt: skip
        creator = await Creator.create(
            platform=Platform.TWITCH, platform_id="1234", login="dorian", display_name="Dorian"
        )
        await Feed.create(
            guild=guild, creator=creator, channel_id=888, template="{name} is live", created_by=1
        )
        document = await KnowledgeDocument.create(
            guild=guild, title="Rules", body="Be kind. No spam.", source="manual"
        )
        await KnowledgeChunk.create(
            document=document, guild_id=GUILD, ordinal=0, text="Be kind. No spam.", tokens=5
        )


async def _populate_redis(redis: aioredis.Redis, keyspace: Keyspace) -> None:
    key = keyspace.key
    await redis.hset(key("xp", GUILD), mapping={str(u): 1000 * i for i, u in enumerate(MEMBERS)})
    await redis.hset(key("xp_dirty", GUILD), mapping={str(MEMBERS[0]): 4})
    await redis.sadd(key("xp_dirty_guilds", guild_bucket(GUILD)), str(GUILD))
    await redis.set(key("xp_loaded", GUILD), "1")
    await redis.zadd(key("xp_seen", GUILD, MEMBERS[0]), {"00000000000000000042": 1.7e12})
    await redis.expire(key("xp_seen", GUILD, MEMBERS[0]), 3600)
    await redis.hset(key("giveaway_entries", 1), mapping={str(u): 1 for u in MEMBERS})
    await redis.zadd(key("timers", "claim_window"), {"1": 1.8e12})
    await redis.hset(key("premium_tiers"), str(GUILD), "plus")
    await redis.set(key("done", "xp", "event-1"), b"\xff\x00binary", ex=86_400)
    stream = key("stream", "jobs")
    for number in range(3):
        await redis.xadd(stream, {"data": json.dumps({"n": number})})
    await redis.xgroup_create(stream, "workers", id="0")
    # One entry delivered and not acknowledged: it must be delivered again after a restore.
    await redis.xreadgroup("workers", "w1", {stream: ">"}, count=1)
    # Not exported: a cache of PostgreSQL and a lease.
    await redis.set(key("guild_config", GUILD), "{}", ex=3600)
    await redis.set(key("scheduler_lock"), "someone", ex=30)


async def _tables(database_url: str) -> dict[str, list[tuple[typing.Any, ...]]]:
    connection = await asyncpg.connect(database_url)
    try:
        names = [
            row["tablename"]
            for row in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        return {
            name: sorted(
                (tuple(row.values()) for row in await connection.fetch(f'SELECT * FROM "{name}"')),
                key=repr,
            )
            for name in names
        }
    finally:
        await connection.close()


async def _keys(redis: aioredis.Redis, keyspace: Keyspace) -> dict[str, typing.Any]:
    found: dict[str, typing.Any] = {}
    async for raw in redis.scan_iter(match=f"{keyspace.namespace}:*"):
        name = raw.decode().split(":", 1)[1]
        kind = (await redis.type(raw)).decode()
        value: typing.Any
        if kind == "string":
            value = await redis.get(raw)
        elif kind == "hash":
            value = await redis.hgetall(raw)
        elif kind == "set":
            value = await redis.smembers(raw)
        elif kind == "zset":
            value = await redis.zrange(raw, 0, -1, withscores=True)
        else:
            # Groups by name: a restored group starts before its oldest pending entry (below).
            groups = [group["name"] for group in await redis.xinfo_groups(raw)]
            value = (await redis.xrange(raw), groups)
        found[name] = (kind, value, await redis.ttl(raw) > 0)
    return found


@ON_CLUSTER_TOO
async def test_a_populated_system_backed_up_wiped_and_restored_has_the_same_data(
    server_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    source_ns, target_ns = (
        Keyspace(f"b{uuid.uuid4().hex[:12]}"),
        Keyspace(f"r{uuid.uuid4().hex[:12]}"),
    )
    redis = connect_redis(redis_url)
    archive = tmp_path / "backup.tar"
    try:
        async with scratch_database(server_database_url, "townsquare_backup") as source_url:
            await db.migrate(source_url)
            await _populate(source_url)
            await _populate_redis(redis, source_ns)
            tables_before = await _tables(source_url)
            keys_before = await _keys(redis, source_ns)
            summary = await write_backup(
                archive, database_url=source_url, redis_url=redis_url, keyspace=source_ns
            )
        # The source database is gone (dropped); its namespace is wiped.
        await _wipe(redis, source_ns)
        manifest = read_manifest(archive)
        assert manifest == summary.manifest
        assert manifest["schema"]["migrations"] == known_migrations()
        assert manifest["redis"]["families"]["xp"] == 1
        assert {"guild_config", "scheduler_lock"} <= set(manifest["redis"]["skipped_families"])
        with tarfile.open(archive) as members:
            assert members.getnames() == ["manifest.json", "postgres.dump", "redis.jsonl.gz"]

        async with scratch_database(server_database_url, "townsquare_restore") as target_url:
            restored = await restore_backup(
                archive, database_url=target_url, redis_url=redis_url, keyspace=target_ns
            )
            assert not restored.resumed and restored.newer_migrations == []
            assert await _tables(target_url) == tables_before
            # The platform starts from it: its migrations are recorded, none is applied again.
            assert await db.migrate(target_url) == []
            populated = {name for name, rows in tables_before.items() if rows}
            assert {
                "member_xp", "level_rewards", "guild_configs", "giveaways", "giveaway_entries",
                "premium_subscriptions", "moderation_cases", "streams_feeds", "knowledge_chunks",
            } <= populated, populated  # fmt: skip
            keys_after = await _keys(redis, target_ns)
            expected = {
                name: value
                for name, value in keys_before.items()
                if not name.startswith(("guild_config:", "scheduler_lock"))
            }
            assert keys_after == expected
            # The unacknowledged entry is pending again: a worker's `>` read gets it first.
            stream = target_ns.key("stream", "jobs")
            first = await redis.xreadgroup("workers", "w2", {stream: ">"}, count=1)
            original = keys_before["stream:{jobs}"][1][0][0][0]
            assert first[0][1][0][0] == original

            # A second restore into what is now in use is refused, naming the reason.
            with pytest.raises(BackupError, match=r"namespace .* is already in use"):
                await restore_backup(
                    archive, database_url=target_url, redis_url=redis_url, keyspace=target_ns
                )
            with pytest.raises(BackupError, match="target database is not empty"):
                await restore_backup(
                    archive, database_url=target_url, redis_url=redis_url, keyspace=source_ns
                )
            assert not [key async for key in redis.scan_iter(match=f"{source_ns.namespace}:*")]
    finally:
        await _wipe(redis, source_ns)
        await _wipe(redis, target_ns)
        await redis.aclose()


async def _wipe(redis: aioredis.Redis, keyspace: Keyspace) -> None:
    async for key in redis.scan_iter(match=f"{keyspace.namespace}:*"):
        await redis.delete(key)


def _rewrite_manifest(archive: Path, target: Path, change: typing.Callable[[dict], None]) -> None:  # type: ignore[type-arg]
    with tarfile.open(archive) as source, tarfile.open(target, "w") as out:
        for member in source.getmembers():
            data = source.extractfile(member)
            assert data is not None
            content = data.read()
            if member.name == "manifest.json":
                manifest = json.loads(content)
                change(manifest)
                content = json.dumps(manifest).encode()
            member.size = len(content)
            import io

            out.addfile(member, io.BytesIO(content))


async def test_restore_refuses_a_newer_schema_a_damaged_archive_and_resumes_a_killed_restore(
    database_url: str, server_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    keyspace = Keyspace(f"k{uuid.uuid4().hex[:12]}")
    redis = aioredis.Redis.from_url(redis_url)
    archive = tmp_path / "small.tar"
    try:
        await redis.set(keyspace.key("xp_loaded", GUILD), "1")
        await write_backup(
            archive, database_url=database_url, redis_url=redis_url, keyspace=keyspace
        )
        await _wipe(redis, keyspace)

        newer = tmp_path / "newer.tar"
        _rewrite_manifest(
            archive,
            newer,
            lambda manifest: manifest["schema"]["migrations"].append("townsquare.9999_future"),
        )
        damaged = tmp_path / "damaged.tar"
        _rewrite_manifest(
            archive, damaged, lambda manifest: manifest["postgres"].update(sha256="0" * 64)
        )
        async with scratch_database(server_database_url, "townsquare_restore") as target_url:
            with pytest.raises(BackupError, match=r"newer than this Townsquare's.*9999_future"):
                await restore_backup(
                    newer, database_url=target_url, redis_url=redis_url, keyspace=keyspace
                )
            with pytest.raises(BackupError, match="does not match its manifest"):
                await restore_backup(
                    damaged, database_url=target_url, redis_url=redis_url, keyspace=keyspace
                )
            (tmp_path / "junk.tar").write_bytes(b"not a tar")
            with pytest.raises(BackupError, match="not a Townsquare backup archive"):
                await restore_backup(
                    tmp_path / "junk.tar", database_url=target_url, redis_url=redis_url,
                    keyspace=keyspace,
                )  # fmt: skip
            assert not [key async for key in redis.scan_iter(match=f"{keyspace.namespace}:*")]
            assert await _tables(target_url) == {}

            # A restore killed after PostgreSQL committed left its mark: the next one resumes.
            manifest = read_manifest(archive)
            marker = {"backup_id": manifest["backup_id"], "stage": "postgres"}
            await redis.set(keyspace.key("restore"), json.dumps(marker))
            first = await restore_backup(
                archive, database_url=target_url, redis_url=redis_url, keyspace=keyspace
            )
            assert first.resumed
            await redis.set(keyspace.key("restore"), json.dumps({**marker, "stage": "redis"}))
            again = await restore_backup(
                archive, database_url=target_url, redis_url=redis_url, keyspace=keyspace
            )
            assert again.resumed and again.redis_keys == 1
            assert await redis.get(keyspace.key("restore")) is None
            assert await redis.get(keyspace.key("xp_loaded", GUILD)) == b"1"
            # Another archive's interrupted restore is not this one's to finish.
            await redis.set(keyspace.key("restore"), json.dumps({**marker, "backup_id": "other"}))
            with pytest.raises(BackupError, match="interrupted restore of another archive"):
                await restore_backup(
                    archive, database_url=target_url, redis_url=redis_url, keyspace=keyspace
                )
    finally:
        await _wipe(redis, keyspace)
        await redis.aclose()


def test_the_cli_refuses_with_the_reason_and_no_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "missing.tar"
    result = CliRunner().invoke(app, ["restore", "--check", str(missing)])
    assert result.exit_code == 1
    assert "cannot restore:" in result.output and "no such file" in result.output
    assert "Traceback" not in result.output


async def test_a_dump_of_a_newer_pg_dump_restores_into_an_older_server(
    server_database_url: str, tmp_path: Path
) -> None:
    """The embedded pg_dump (18) may be the only one on a machine with an external older
    server: pg_restore 18 sets `transaction_timeout`, which PostgreSQL before 17 rejects, so
    such an archive goes through psql without it (on a server of 17 or more, as usual)."""
    tool = postgres.find_tool("pg_dump", 18)
    async with scratch_database(server_database_url, "townsquare_dump") as source_url:
        connection = await asyncpg.connect(source_url)
        try:
            await connection.execute(
                "CREATE TABLE t (id serial PRIMARY KEY, doc jsonb);"
                """INSERT INTO t (doc) VALUES ('{"a": 1}'), ('{"b": 2}')"""
            )
        finally:
            await connection.close()
        dump = tmp_path / "newer.dump"
        dumping = await asyncio.create_subprocess_exec(
            str(tool.path), "--format=custom", "--no-owner", f"--file={dump}",
            f"--dbname={source_url}",
        )  # fmt: skip
        assert await dumping.wait() == 0
        tables = await _tables(source_url)
    async with scratch_database(server_database_url, "townsquare_restore") as target_url:
        await postgres.restore(target_url, dump, tool.major)
        assert await _tables(target_url) == tables


def _townsquare(
    *args: str, database_url: str, redis_url: str, namespace: str
) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("TOWNSQUARE")}
    env |= {
        "TOWNSQUARE__DATABASE__URL": database_url,
        "TOWNSQUARE__REDIS__URL": redis_url,
        "TOWNSQUARE__REDIS__NAMESPACE": namespace,
    }
    return subprocess.run(
        [sys.executable, "-m", "townsquare.cli", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@ON_CLUSTER_TOO
async def test_the_commands_back_up_wipe_restore_then_refuse_to_restore_over_data(
    database_url: str, server_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """The commands themselves, each a `python -m townsquare.cli` process with `redis.url` the
    single server's or the cluster's (`redis+cluster://`, the keys spread over its masters):
    back up, wipe the namespace, restore it into a fresh database, refuse a second restore."""
    keyspace = Keyspace(f"c{uuid.uuid4().hex[:12]}")
    redis = connect_redis(redis_url)
    archive = tmp_path / "cli.tar"
    try:
        await _populate_redis(redis, keyspace)
        keys_before = await _keys(redis, keyspace)
        made = await asyncio.to_thread(
            _townsquare, "backup", str(archive), database_url=database_url,
            redis_url=redis_url, namespace=keyspace.namespace,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        exported = {
            name: value
            for name, value in keys_before.items()
            if not name.startswith(("guild_config:", "scheduler_lock"))
        }
        assert f"wrote {archive}" in made.stdout
        assert f"{len(exported)} Redis keys" in made.stdout, made.stdout
        await _wipe(redis, keyspace)
        assert await _keys(redis, keyspace) == {}
        async with scratch_database(server_database_url, "townsquare_restore") as target_url:
            restored = await asyncio.to_thread(
                _townsquare, "restore", str(archive), database_url=target_url,
                redis_url=redis_url, namespace=keyspace.namespace,
            )  # fmt: skip
            assert restored.returncode == 0, restored.stderr
            assert f"restored {archive}" in restored.stdout
            assert f"{len(exported)} Redis keys" in restored.stdout, restored.stdout
            assert await _keys(redis, keyspace) == exported
            assert await _tables(target_url) == await _tables(database_url)
            again = await asyncio.to_thread(
                _townsquare, "restore", str(archive), database_url=target_url,
                redis_url=redis_url, namespace=keyspace.namespace,
            )  # fmt: skip
            assert again.returncode == 1
            assert "cannot restore: the Redis namespace" in again.stderr
            assert "Traceback" not in again.stderr + again.stdout
    finally:
        await _wipe(redis, keyspace)
        await redis.aclose()
