"""Requests per second on the cached `/public/v1` leaderboard, against a minimal Quart handler.

Both apps are served the same way: hypercorn (one process, one worker, the same Config) on a
loopback port, each in its own child process, one after the other. Ours is the real app
(`create_app`, every hook, request logging at info level to a file) answering
`GET /public/v1/guilds/<id>/leaderboard` with a valid API key: one Redis round trip (the
admission script: key check, rate-limit INCR, cached page GET) and no PostgreSQL. The rate
limit is raised so that no request is refused. The baseline is a bare Quart app whose handler
returns the same body from memory.

Load comes from another child process: a small HTTP/1.1 keep-alive client on asyncio streams
(CONNECTIONS connections, one request in flight each), much cheaper per request than either
server, so the servers are what is measured. Each side gets ROUNDS runs of SECONDS after a
warm-up, interleaved; the best run counts. Needs Redis and PostgreSQL:
`TOWNSQUARE_TEST_REDIS_URL` / `TOWNSQUARE_TEST_DATABASE_URL`, otherwise embedded servers in a
temporary directory. A fresh database is created and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

GUILD = 81_384_788_765_712_384
MEMBERS = 500
CONNECTIONS = 16
SECONDS = 4.0
WARMUP_SECONDS = 1.0
ROUNDS = 3
TARGET_RATIO = 0.5


# -- the load generator (child process) ---------------------------------------------------


async def _connection(port: int, request: bytes, deadline: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12]
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if status != b"200":
                raise RuntimeError(f"status {status.decode()}")
            counts[0] += 1
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _load(port: int, path: str, authorization: str, seconds: float) -> float:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: {authorization}\r\nAccept: application/json\r\n\r\n"
    ).encode()
    warm = [0]
    deadline = time.perf_counter() + WARMUP_SECONDS
    await asyncio.gather(*(_connection(port, request, deadline, warm) for _ in range(4)))
    counts = [0]
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(_connection(port, request, deadline, counts) for _ in range(CONNECTIONS))
    )
    return counts[0] / (time.perf_counter() - started)


# -- the servers (child processes) --------------------------------------------------------


def _hypercorn_config(port: int) -> object:
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.workers = 1
    config.include_server_header = False
    return config


async def _serve_baseline(port: int, body: bytes) -> None:
    from hypercorn.asyncio import serve
    from quart import Quart, Response

    app = Quart("baseline")

    @app.get("/leaderboard")
    async def leaderboard() -> Response:
        return Response(body, content_type="application/json")

    await serve(app, _hypercorn_config(port))  # type: ignore[arg-type]


async def _serve_ours(port: int, spec: dict[str, str]) -> None:
    from hypercorn.asyncio import serve

    from townsquare.core.db import connect
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import load_settings
    from townsquare.features.apikeys.domain.gate import RateLimit
    from townsquare.features.apikeys.web.gate import RATE_LIMIT_CONFIG
    from townsquare.http import create_app

    settings = load_settings(environ=json.loads(spec["environ"]), env_file=None)
    keyspace = Keyspace(spec["namespace"])
    app = create_app(settings, spec["redis_url"], spec["database_url"], keyspace, discord=None)
    app.config[RATE_LIMIT_CONFIG] = RateLimit(requests=10**9, window_seconds=60)
    async with connect(spec["database_url"], pool_max=2):
        await serve(app, _hypercorn_config(port))  # type: ignore[arg-type]


# -- the parent ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _child(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_http_public", *args],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_for(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def _measure(port: int, path: str, authorization: str) -> float:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.bench_http_public",
            "load",
            str(port),
            path,
            authorization,
            str(SECONDS),
        ],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(run.stdout.strip().splitlines()[-1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _prepare(redis_url: str, database_url: str, namespace: str) -> str:
    """A guild, its XP and an API key for it; returns the key."""
    import redis.asyncio as aioredis

    from townsquare.core.audit.service import Actor
    from townsquare.core.db import connect, migrate
    from townsquare.core.guilds.service import ensure_guild
    from townsquare.core.keyspace import Keyspace
    from townsquare.features.apikeys.domain.service import create_key

    await migrate(database_url)
    keyspace = Keyspace(namespace)
    redis = aioredis.Redis.from_url(redis_url)
    try:
        mapping = {str(10_000 + n): str(37 * n % 5000) for n in range(MEMBERS)}
        await redis.hset(keyspace.key("xp", GUILD), mapping=mapping)  # type: ignore[misc]
    finally:
        await redis.aclose()
    async with connect(database_url):
        await ensure_guild(GUILD, name="Bench")
        created = await create_key(GUILD, "bench", Actor.system())
    return created.token


async def _drop_namespace(redis_url: str, namespace: str) -> None:
    import redis.asyncio as aioredis

    redis = aioredis.Redis.from_url(redis_url)
    try:
        async for key in redis.scan_iter(match=f"{namespace}:*", count=1000):
            await redis.delete(key)
    finally:
        await redis.aclose()


async def _database(server_url: str, name: str, *, create: bool) -> None:
    import asyncpg

    admin = await asyncpg.connect(server_url)
    try:
        if create:
            await admin.execute(f'CREATE DATABASE "{name}"')
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _bench(redis_url: str, server_url: str, work: Path) -> tuple[float, float]:
    name = f"townsquare_bench_{uuid.uuid4().hex[:12]}"
    head, _, tail = server_url.partition("?")
    database_url = f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{tail}" if tail else "")
    namespace = f"b{uuid.uuid4().hex[:12]}"
    asyncio.run(_database(server_url, name, create=True))
    servers: list[subprocess.Popen[bytes]] = []
    try:
        token = asyncio.run(_prepare(redis_url, database_url, namespace))
        authorization = f"Bearer {token}"
        environ = {
            "TOWNSQUARE__PATHS__VAR_DIR": str(work),
            "TOWNSQUARE__REDIS__NAMESPACE": namespace,
            "TOWNSQUARE__HTTP__JWT_SIGNING_KEY": "bench-signing-key-" + "x" * 32,
        }
        spec = {
            "redis_url": redis_url,
            "database_url": database_url,
            "namespace": namespace,
            "environ": json.dumps(environ),
            "log": str(work / "http.log"),
        }
        ours_port, base_port = _free_port(), _free_port()
        ours_proc = _child("serve-ours", str(ours_port), json.dumps(spec))
        servers.append(ours_proc)
        _wait_for(ours_port, ours_proc)
        path = f"/public/v1/guilds/{GUILD}/leaderboard"
        body = _fetch(ours_port, path, authorization)
        (work / "body.json").write_bytes(body)
        base_proc = _child("serve-baseline", str(base_port), str(work / "body.json"))
        servers.append(base_proc)
        _wait_for(base_port, base_proc)
        assert _fetch(base_port, "/leaderboard", authorization) == body
        ours, floor, baseline = [], [], []
        for _ in range(ROUNDS):
            ours.append(_measure(ours_port, path, authorization))
            floor.append(_measure(ours_port, "/healthz", authorization))
            baseline.append(_measure(base_port, "/leaderboard", authorization))
            print(
                f"round: ours {ours[-1]:,.0f}/s, our app's /healthz {floor[-1]:,.0f}/s, "
                f"baseline {baseline[-1]:,.0f}/s",
                flush=True,
            )
        # Diagnostic: /healthz of the same app (every app-wide hook, no Redis) shows how much
        # of the gap is the app's per-request work rather than the public API's.
        floor_ratio = max(floor) / max(baseline)
        print(f"our app's /healthz (best): {max(floor):,.0f}/s, ratio {floor_ratio:.3f}")
        return max(ours), max(baseline)
    finally:
        for proc in servers:
            _stop(proc)
        asyncio.run(_drop_namespace(redis_url, namespace))
        asyncio.run(_database(server_url, name, create=False))


def _fetch(port: int, path: str, authorization: str) -> bytes:
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": authorization}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 200:
            raise RuntimeError(f"status {response.status}")
        return bytes(response.read())


@contextlib.contextmanager
def _services(work: Path):  # type: ignore[no-untyped-def]
    redis_url = os.environ.get("TOWNSQUARE_TEST_REDIS_URL")
    server_url = os.environ.get("TOWNSQUARE_TEST_DATABASE_URL")
    stops = []
    try:
        if not redis_url:
            from townsquare.core.embedded import start_or_attach_valkey

            valkey = start_or_attach_valkey(work / "valkey")
            stops.append(valkey.stop)
            redis_url = valkey.url
        if not server_url:
            from townsquare.core.embedded import start_or_attach_postgres

            postgres = start_or_attach_postgres(work / "postgres")
            stops.append(postgres.stop)
            server_url = postgres.url
        yield redis_url, server_url
    finally:
        for stop in reversed(stops):
            stop()


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="townsquare-bench-http-"))
    work.chmod(0o755)
    try:
        with _services(work) as (redis_url, server_url):
            ours, baseline = _bench(redis_url, server_url, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = ours / baseline
    print(
        f"cached public leaderboard: {ours:,.0f} requests/s; minimal Quart handler: "
        f"{baseline:,.0f} requests/s; ratio {ratio:.3f} (target >= {TARGET_RATIO})"
    )
    print(
        json.dumps(
            {
                "benchmark": "http_public_leaderboard",
                "value": round(ours),
                "unit": "requests/s",
                "baseline": round(baseline),
                "ratio": round(ratio, 3),
            }
        )
    )


if __name__ == "__main__":
    match sys.argv[1:]:
        case ["load", port, path, authorization, seconds]:
            print(asyncio.run(_load(int(port), path, authorization, float(seconds))))
        case ["serve-ours", port, spec]:
            from townsquare.core.logs import configure_logging

            server_spec = json.loads(spec)
            # As the service runs: one JSON line per request at info level, here into a file.
            with open(server_spec["log"], "a") as log_file:
                configure_logging(level="info", fmt="json", stream=log_file)
                asyncio.run(_serve_ours(int(port), server_spec))
        case ["serve-baseline", port, body_file]:
            asyncio.run(_serve_baseline(int(port), Path(body_file).read_bytes()))
        case _:
            main()
