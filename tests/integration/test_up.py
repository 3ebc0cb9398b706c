"""`townsquare up` (what `make run` runs) on embedded services, as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import typing
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from tests.support.up import up_running
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


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
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


@pytest.mark.timeout(240)
def test_up_runs_the_platform_on_the_sandbox_until_crowd_xp_reaches_postgres_then_stops_clean(
    var_root: Path,
) -> None:
    tmp_path = var_root
    env, (sandbox_port, http_port, metrics_port), process_ports = _up_environment(tmp_path)
    with up_running([sys.executable, "-m", "townsquare.cli"], cwd=tmp_path, env=env) as up:
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
        assert names == {"sandbox", "shards", "worker", "scheduler", "http"}
        assert (tmp_path / "var" / "sandbox.json").exists()
        tables, pong = asyncio.run(_inspect(records))
        assert {"guilds", "member_xp", "audit_entries"} <= tables
        assert pong
        # The crowd chats in the sandbox; shards publish, workers award, the flush writes.
        database_url = f"postgres://postgres@127.0.0.1:{records['postgres']['port']}/postgres"
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
    assert {"sandbox.log", "shards.log", "worker.log", "scheduler.log", "http.log"} <= {
        path.name for path in (tmp_path / "var" / "log").iterdir()
    }


@pytest.mark.timeout(180)
def test_up_single_process_runs_every_part_in_one_process_until_crowd_xp_reaches_postgres(
    var_root: Path,
) -> None:
    env, (sandbox_port, http_port, metrics_port), process_ports = _up_environment(var_root)
    command = [sys.executable, "-m", "townsquare.cli"]
    with up_running(command, cwd=var_root, env=env, options=["--single-process"]) as up:
        assert "in this one process" in up.lines[-1]
        records = {
            kind: json.loads((var_root / "var" / kind / "server.json").read_text())
            for kind in ("valkey", "postgres")
        }
        # No townsquare child: only the embedded servers run beside it.
        children = _children_of(up.process.pid)
        assert not [pid for pid in children if "townsquare.cli" in _cmdline(pid)]
        database_url = f"postgres://postgres@127.0.0.1:{records['postgres']['port']}/postgres"
        # The crowd chats in the sandbox (same process); shards publish, the worker awards and
        # its flush writes PostgreSQL: XP end to end on one event loop.
        _wait_for(lambda: asyncio.run(_xp_rows(database_url)) > 0, "crowd XP rows in PostgreSQL")
        # The embedded PostgreSQL runs with its small-footprint settings in this mode.
        assert asyncio.run(_setting(database_url, "shared_buffers")) == "16MB"
        for kind in ("worker", "scheduler"):
            assert_scraped(kind, process_ports[kind])
        _wait_for(lambda: _get(f"http://127.0.0.1:{http_port}/healthz")[0] == 200, "http serving")
        ports = [sandbox_port, http_port, metrics_port, *process_ports.values()]
    assert up.process.returncode == 0, up.output
    assert "stopped" in up.output
    for pid in [record["pid"] for record in records.values()]:
        _wait_for(lambda pid=pid: not process_alive(pid), f"process {pid} to exit")
    assert not (var_root / "var" / "sandbox.json").exists()
    assert not any(_port_open(port) for port in ports), "a port was left open"
    assert (var_root / "var" / "log" / "single-process.log").stat().st_size > 0
