"""`townsquare up` (what `make run` runs) on embedded services, as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

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


@pytest.mark.timeout(240)
def test_up_runs_the_platform_on_the_sandbox_until_crowd_xp_reaches_postgres_then_stops_clean(
    var_root: Path,
) -> None:
    tmp_path = var_root
    sandbox_port, http_port, metrics_port = _free_port(), _free_port(), _free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("TOWNSQUARE")}
    env["TOWNSQUARE__PATHS__VAR_DIR"] = str(tmp_path / "var")
    env["TOWNSQUARE__LOGGING__FORMAT"] = "json"
    env["TOWNSQUARE__SANDBOX__PORT"] = str(sandbox_port)
    env["TOWNSQUARE__SANDBOX__CROWD_RATE"] = "40"
    env["TOWNSQUARE__HTTP__PORT"] = str(http_port)
    env["TOWNSQUARE__HTTP__METRICS_PORT"] = str(metrics_port)
    process = subprocess.Popen(
        [sys.executable, "-m", "townsquare.cli", "up", "--no-console"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                break
        else:
            pytest.fail("up exited early:\n" + "".join(lines))

        records = {
            kind: json.loads((tmp_path / "var" / kind / "server.json").read_text())
            for kind in ("valkey", "postgres")
        }
        children = _children_of(process.pid)
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
        ports = [
            sandbox_port,
            http_port,
            metrics_port,
            records["valkey"]["port"],
            records["postgres"]["port"],
        ]
        assert all(_port_open(port) for port in ports)
        # Metrics on their own loopback port, not on the public one.
        assert f"metrics: http://127.0.0.1:{metrics_port}/metrics" in "".join(lines)
        assert _get(f"http://127.0.0.1:{metrics_port}/metrics")[0] == 200
        assert (
            "townsquare_http_requests_total" in _get(f"http://127.0.0.1:{metrics_port}/metrics")[1]
        )
        assert _get(f"http://127.0.0.1:{http_port}/metrics")[0] == 404
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
        lines.append(output)
    assert process.returncode == 0, "".join(lines)
    assert "stopped" in "".join(lines)
    for pid in [record["pid"] for record in records.values()] + children:
        _wait_for(lambda pid=pid: not process_alive(pid), f"process {pid} to exit")
    assert not (tmp_path / "var" / "sandbox.json").exists()
    assert not any(_port_open(port) for port in ports), "a port was left open"
    assert {"sandbox.log", "shards.log", "worker.log", "scheduler.log", "http.log"} <= {
        path.name for path in (tmp_path / "var" / "log").iterdir()
    }
