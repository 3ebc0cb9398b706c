"""`townsquare up` (what `make run` runs) on embedded services, as a real process.

One end-to-end test, run in both modes: the default (a child process per part) and
`--single-process`. Each run starts from a backup: `townsquare restore` fills the fresh
embedded PostgreSQL and Valkey from an archive first, and the platform then serves it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import typing
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from tests.support.databases import scratch_database
from tests.support.up import up_running
from townsquare.core import db
from townsquare.core.backup import write_backup
from townsquare.core.keyspace import Keyspace, guild_bucket
from townsquare.core.processes import process_alive

DEADLINE_SECONDS = 90


def _wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)  # polling interval of a bounded wait, not synchronisation


def _children_of(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


async def _inspect(records: dict[str, dict[str, int]]) -> tuple[set[str], bool]:
    database_url = f"postgres://postgres@127.0.0.1:{records['postgres']['port']}/postgres"
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    client = aioredis.Redis(port=records["valkey"]["port"])
    try:
        pong = bool(await client.ping())
    finally:
        await client.aclose()
    return {row["tablename"] for row in rows}, pong


@pytest.fixture
def var_root() -> Iterator[Path]:
    # Outside pytest's tmp_path, whose root another pytest session may close to 0700 while the
    # embedded PostgreSQL (running as its own user) still needs it; see tests/conftest.py.
    root = Path(tempfile.mkdtemp(prefix="townsquare-up-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except urllib.error.URLError:  # not listening yet
        return 0, ""


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def _xp_rows(database_url: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM member_xp WHERE xp > 0"))
    finally:
        await connection.close()


async def _setting(database_url: str, name: str) -> str:
    connection = await asyncpg.connect(database_url)
    try:
        return str(await connection.fetchval(f"SHOW {name}"))
    finally:
        await connection.close()


async def _demo_passages(database_url: str) -> tuple[int, int]:
    """The assistant's passages, and how many of them are embedded."""
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow(
            "SELECT count(*) AS total, count(embedding) AS embedded FROM knowledge_chunks"
        )
    finally:
        await connection.close()
    assert row is not None
    return int(row["total"]), int(row["embedded"])


PROCESS_METRICS: typing.Final = {
    "shards": {"townsquare_shard_events", "townsquare_shard_backlog_records"},
    "worker": {"townsquare_tasks", "townsquare_dead_letters", "townsquare_queue_length"},
    "scheduler": {"townsquare_scheduler_jobs_due", "townsquare_scheduler_active"},
}


def assert_scraped(kind: str, port: int) -> None:
    """The process's `/metrics` parses and has its families; its `/readyz` says ready."""
    families: dict[str, typing.Any] = {}

    def scraped() -> bool:
        status, body = _get(f"http://127.0.0.1:{port}/metrics")
        families.update({f.name: f for f in text_string_to_metric_families(body)})
        return status == 200 and PROCESS_METRICS[kind] <= set(families)

    _wait_for(scraped, f"the {kind} metrics")
    _wait_for(lambda: _get(f"http://127.0.0.1:{port}/readyz")[0] == 200, f"{kind} ready")
    if kind == "shards":  # the crowd chats: the shard has handled events
        _wait_for(
            lambda: any(sample.value > 0 for sample in _samples(port, "townsquare_shard_events")),
            "shard events counted",
        )
    if kind == "worker":  # ... and the worker has awarded their XP
        _wait_for(
            lambda: any(
                sample.value > 0 and sample.labels["outcome"] == "success"
                for sample in _samples(port, "townsquare_tasks")
                if sample.labels.get("pipeline") == "xp"
            ),
            "xp tasks counted",
        )


def _samples(port: int, family: str) -> list[typing.Any]:
    body = _get(f"http://127.0.0.1:{port}/metrics")[1]
    return [s for f in text_string_to_metric_families(body) if f.name == family for s in f.samples]


def _up_environment(tmp_path: Path) -> tuple[dict[str, str], tuple[int, int, int], dict[str, int]]:
    """`up`'s environment on free ports; the sandbox, HTTP and HTTP metrics ports, and the
    other process kinds' metrics ports."""
    sandbox_port, http_port, metrics_port = _free_port(), _free_port(), _free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("TOWNSQUARE")}
    env["TOWNSQUARE__PATHS__VAR_DIR"] = str(tmp_path / "var")
    env["TOWNSQUARE__LOGGING__FORMAT"] = "json"
    env["TOWNSQUARE__SANDBOX__PORT"] = str(sandbox_port)
    env["TOWNSQUARE__SANDBOX__CROWD_RATE"] = "40"
    env["TOWNSQUARE__HTTP__PORT"] = str(http_port)
    env["TOWNSQUARE__HTTP__METRICS_PORT"] = str(metrics_port)
    process_ports = {kind: _free_port() for kind in ("shards", "worker", "scheduler")}
    for kind, port in process_ports.items():
        env[f"TOWNSQUARE__METRICS__{kind.upper()}_PORT"] = str(port)
    return env, (sandbox_port, http_port, metrics_port), process_ports


RESTORED_GUILD: typing.Final = 1191168914235700001
"""A guild that exists only in the backup (not the sandbox's demo guild)."""
RESTORED_XP: typing.Final = {4001: 1000, 4002: 2000}
"""Totals in the backup's PostgreSQL; in its Redis, 4002 has 500 more, not flushed yet."""
RESTORED_HOT_XP: typing.Final = {4001: 1000, 4002: 2500}


@dataclasses.dataclass(frozen=True, slots=True)
class Backup:
    archive: Path
    api_key: str
    """The restored guild's API key (its hash is in the archive)."""


async def _make_backup(archive: Path, server_database_url: str, redis_url: str) -> str:
    from townsquare.core.audit.service import Actor
    from townsquare.core.guilds.models import Guild
    from townsquare.features.apikeys.domain.service import create_key
    from townsquare.features.xp.domain.models import MemberXP

    keyspace = Keyspace(f"u{uuid.uuid4().hex[:12]}")
    redis = aioredis.Redis.from_url(redis_url)
    try:
        async with scratch_database(server_database_url, "townsquare_up_backup") as source:
            await db.migrate(source)
            async with db.connect(source, pool_max=2):
                guild = await Guild.create(id=RESTORED_GUILD, name="Restored", owner_id=4001)
                for user, xp in RESTORED_XP.items():
                    await MemberXP.create(guild=guild, user_id=user, xp=xp, level=1)
                token = (await create_key(RESTORED_GUILD, "restored", Actor.system())).token
            key = keyspace.key
            await redis.hset(key("xp", RESTORED_GUILD), mapping=RESTORED_HOT_XP)
            await redis.set(key("xp_loaded", RESTORED_GUILD), "1")
            await redis.hset(key("xp_dirty", RESTORED_GUILD), mapping={"4002": 1})
            await redis.sadd(
                key("xp_dirty_guilds", guild_bucket(RESTORED_GUILD)), str(RESTORED_GUILD)
            )
            await write_backup(archive, database_url=source, redis_url=redis_url, keyspace=keyspace)
    finally:
        async for name in redis.scan_iter(match=f"{keyspace.namespace}:*"):
            await redis.delete(name)
        await redis.aclose()
    return token


@pytest.fixture(scope="module")
def backup(
    server_database_url: str, single_redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Backup:
    """An archive of a guild with XP (some of it only in Redis, not flushed) and an API key."""
    archive = tmp_path_factory.mktemp("up-backup") / "backup.tar"
    token = asyncio.run(_make_backup(archive, server_database_url, single_redis_url))
    return Backup(archive, token)


async def _member_xp(database_url: str, user_id: int) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        value = await connection.fetchval(
            "SELECT xp FROM member_xp WHERE guild_id = $1 AND user_id = $2",
            RESTORED_GUILD,
            user_id,
        )
    finally:
        await connection.close()
    return int(value or 0)


def _leaderboard(http_port: int, api_key: str) -> list[tuple[int, int]]:
    status, body = _get(
        f"http://127.0.0.1:{http_port}/public/v1/guilds/{RESTORED_GUILD}/leaderboard",
        {"Authorization": f"Bearer {api_key}"},
    )
    assert status == 200, (status, body)
    return [(int(entry["user_id"]), entry["xp"]) for entry in json.loads(body)["entries"]]


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "options",
    [pytest.param((), id="processes"), pytest.param(("--single-process",), id="single-process")],
)
@pytest.mark.long
def test_up_starts_from_a_restored_backup_and_runs_the_platform_on_the_sandbox_then_stops_clean(
    var_root: Path, backup: Backup, options: tuple[str, ...]
) -> None:
    single = bool(options)
    tmp_path = var_root
    env, (sandbox_port, http_port, metrics_port), process_ports = _up_environment(tmp_path)
    command = [sys.executable, "-m", "townsquare.cli"]
    # A fresh install restored from the archive (embedded servers started for it and stopped).
    restored = subprocess.run(
        [*command, "restore", str(backup.archive)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert restored.returncode == 0, restored.stdout + restored.stderr
    with up_running(command, cwd=tmp_path, env=env, options=options) as up:
        # The restored schema is recognised: nothing to migrate.
        assert "database: 0 migration(s) applied" in up.output
        records = {
            kind: json.loads((tmp_path / "var" / kind / "server.json").read_text())
            for kind in ("valkey", "postgres")
        }
        children = _children_of(up.process.pid)
        names = {
            _cmdline(pid).split("townsquare.cli", 1)[-1].strip()
            for pid in children
            if "townsquare.cli" in _cmdline(pid)
        }
        if single:  # every part in `up`'s own process: only the embedded servers beside it
            assert "in this one process" in up.lines[-1]
            assert names == set()
        else:
            assert names == {"sandbox", "shards", "worker", "scheduler", "http"}
        assert (tmp_path / "var" / "sandbox.json").exists()
        tables, pong = asyncio.run(_inspect(records))
        assert {"guilds", "member_xp", "audit_entries"} <= tables
        assert pong
        database_url = f"postgres://postgres@127.0.0.1:{records['postgres']['port']}/postgres"
        if single:  # the embedded PostgreSQL runs with its small-footprint settings
            assert asyncio.run(_setting(database_url, "shared_buffers")) == "16MB"
        # The crowd chats in the sandbox; shards publish, workers award, the flush writes.
        _wait_for(lambda: asyncio.run(_xp_rows(database_url)) > 0, "crowd XP rows in PostgreSQL")
        # The assistant's demo: the demo guild's rules and FAQ, embedded by the worker.
        assert any(line.startswith("assistant: on in guild") for line in up.lines), up.output

        def demo_embedded() -> bool:
            total, embedded = asyncio.run(_demo_passages(database_url))
            return total > 0 and embedded == total

        _wait_for(demo_embedded, "the demo guild's passages embedded")
        named_ports = {
            "sandbox": sandbox_port,
            "http": http_port,
            "http metrics": metrics_port,
            "valkey": records["valkey"]["port"],
            "postgres": records["postgres"]["port"],
            **{f"{kind} metrics": port for kind, port in process_ports.items()},
        }
        ports = list(named_ports.values())
        # A process that a supervisor restarted (see docs/reliability.md) opens its port again a
        # moment later, so each port gets the bounded wait rather than one instant's look.
        for name, port in named_ports.items():
            _wait_for(lambda port=port: _port_open(port), f"the {name} port {port} to listen")
        # The restored data is served: the API key (PostgreSQL) opens the leaderboard, which
        # has the XP that was only in Redis; the worker's flush writes that XP to PostgreSQL.
        assert _leaderboard(http_port, backup.api_key) == sorted(
            RESTORED_HOT_XP.items(), key=lambda item: -item[1]
        )
        _wait_for(
            lambda: asyncio.run(_member_xp(database_url, 4002)) == RESTORED_HOT_XP[4002],
            "the restored unflushed XP flushed to PostgreSQL",
        )
        # Every other process kind serves its own metrics and readiness, listed by `up`.
        for kind, port in process_ports.items():
            assert f"{kind} http://127.0.0.1:{port}/metrics" in " ".join(up.output.split())
            assert_scraped(kind, port)
        # Metrics on their own loopback port, not on the public one.
        assert f"metrics: http://127.0.0.1:{metrics_port}/metrics" in up.output
        assert _get(f"http://127.0.0.1:{metrics_port}/metrics")[0] == 200
        assert (
            "townsquare_http_requests_total" in _get(f"http://127.0.0.1:{metrics_port}/metrics")[1]
        )
        assert _get(f"http://127.0.0.1:{http_port}/metrics")[0] == 404
    assert up.process.returncode == 0, up.output
    assert "stopped" in up.output
    for pid in [record["pid"] for record in records.values()] + children:
        _wait_for(lambda pid=pid: not process_alive(pid), f"process {pid} to exit")
    assert not (tmp_path / "var" / "sandbox.json").exists()
    assert not any(_port_open(port) for port in ports), "a port was left open"
    logs = {path.name for path in (tmp_path / "var" / "log").iterdir()}
    if single:
        assert (tmp_path / "var" / "log" / "single-process.log").stat().st_size > 0
    else:
        assert {"sandbox.log", "shards.log", "worker.log", "scheduler.log", "http.log"} <= logs
