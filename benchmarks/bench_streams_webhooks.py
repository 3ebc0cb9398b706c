"""Signed Twitch EventSub notifications verified and accepted per second by the HTTP service,
against a bare Quart handler answering 204 (issue 15, benchmark 1; target ratio >= 0.5).

As `bench_http_public`: each app is served by hypercorn (one process, one worker, the same
Config) in a child process, and load comes from another child: keep-alive HTTP/1.1
connections, one request in flight each. Every request is a `stream.online` notification with
a fresh message id and the current timestamp, signed as Twitch signs (HMAC-SHA256 of id +
timestamp + body), so ours does all of its work each time: the signature and freshness check,
the JSON, the followed creator's lookup in PostgreSQL, and the Lua call that remembers the
message id and queues the job. The baseline reads the same requests and answers 204.
Each side gets ROUNDS runs of SECONDS, interleaved; the best counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import hmac
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks._support import fresh_database, new_keyspace, servers
from benchmarks.bench_http_public import (
    _drop_namespace,
    _free_port,
    _hypercorn_config,
    _stop,
    _wait_for,
)

SECRET = "bench-webhook-secret-0123456789"
USER_ID = "41999999"
CONNECTIONS = 16
SECONDS = 4.0
WARMUP_SECONDS = 1.0
ROUNDS = 3
TARGET_RATIO = 0.5
BODY = json.dumps(
    {
        "subscription": {
            "id": "f1c2a387-161a-49f9-a165-0f21d7a4e1c4",
            "status": "enabled",
            "type": "stream.online",
            "version": "1",
            "cost": 0,
            "condition": {"broadcaster_user_id": USER_ID},
            "transport": {"method": "webhook", "callback": "https://example.com/webhooks/twitch"},
            "created_at": "2026-12-02T10:11:12.634234626Z",
        },
        "event": {
            "id": "9001",
            "broadcaster_user_id": USER_ID,
            "broadcaster_user_login": "bench",
            "broadcaster_user_name": "Bench",
            "type": "live",
            "started_at": "2026-12-02T10:11:12.123Z",
        },
    }
).encode()


def _request(port: int) -> bytes:
    message_id = uuid.uuid4().hex
    timestamp = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
    signed = message_id.encode() + timestamp.encode() + BODY
    signature = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    head = (
        f"POST /webhooks/twitch HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n"
        f"Twitch-Eventsub-Message-Id: {message_id}\r\n"
        f"Twitch-Eventsub-Message-Timestamp: {timestamp}\r\n"
        f"Twitch-Eventsub-Message-Signature: sha256={signature}\r\n"
        "Twitch-Eventsub-Message-Type: notification\r\n\r\n"
    )
    return head.encode() + BODY


async def _connection(port: int, deadline: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            writer.write(_request(port))
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if head[9:12] != b"204":
                raise RuntimeError(f"status {head[9:12].decode()}")
            counts[0] += 1
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _load(port: int, seconds: float) -> float:
    deadline = time.perf_counter() + WARMUP_SECONDS
    await asyncio.gather(*(_connection(port, deadline, [0]) for _ in range(4)))
    counts = [0]
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_connection(port, deadline, counts) for _ in range(CONNECTIONS)))
    return counts[0] / (time.perf_counter() - started)


async def _serve_baseline(port: int) -> None:
    from hypercorn.asyncio import serve
    from quart import Quart, Response, request

    app = Quart("baseline")

    @app.post("/webhooks/twitch")
    async def twitch() -> Response:
        await request.get_data()
        return Response(status=204)

    await serve(app, _hypercorn_config(port))  # type: ignore[arg-type]


async def _serve_ours(port: int, spec: dict[str, str]) -> None:
    from hypercorn.asyncio import serve

    from townsquare.core.db import connect
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import load_settings
    from townsquare.http import create_app

    settings = load_settings(environ=json.loads(spec["environ"]), env_file=None)
    keyspace = Keyspace(spec["namespace"])
    app = create_app(settings, spec["redis_url"], spec["database_url"], keyspace, discord=None)
    async with connect(spec["database_url"], pool_max=2):
        await serve(app, _hypercorn_config(port))  # type: ignore[arg-type]


async def _prepare(database_url: str) -> None:
    """The followed creator the notifications name."""
    from townsquare.core.db import connect
    from townsquare.features.streams.domain.models import Creator, Platform, SubscriptionState

    async with connect(database_url):
        await Creator.create(
            platform=Platform.TWITCH,
            platform_id=USER_ID,
            login="bench",
            display_name="Bench",
            state=SubscriptionState.ENABLED,
        )


def _child(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_streams_webhooks", *args],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _measure(port: int) -> float:
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_streams_webhooks", "load", str(port)],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(run.stdout.strip().splitlines()[-1])


async def _bench(redis_url: str, server_url: str, work: Path) -> tuple[float, float]:
    keyspace = new_keyspace()
    started: list[subprocess.Popen[bytes]] = []
    async with fresh_database(server_url) as database_url:
        await _prepare(database_url)
        spec = {
            "redis_url": redis_url,
            "database_url": database_url,
            "namespace": keyspace.namespace,
            "log": str(work / "http.log"),
            "environ": json.dumps(
                {
                    "TOWNSQUARE__PATHS__VAR_DIR": str(work),
                    "TOWNSQUARE__REDIS__NAMESPACE": keyspace.namespace,
                    "TOWNSQUARE__ALERTS__TWITCH__WEBHOOK_SECRET": SECRET,
                }
            ),
        }
        ours_port, base_port = _free_port(), _free_port()
        try:
            started.append(_child("serve-ours", str(ours_port), json.dumps(spec)))
            started.append(_child("serve-baseline", str(base_port)))
            _wait_for(ours_port, started[0])
            _wait_for(base_port, started[1])
            ours, baseline = [], []
            for _ in range(ROUNDS):
                ours.append(await asyncio.to_thread(_measure, ours_port))
                baseline.append(await asyncio.to_thread(_measure, base_port))
                print(f"round: ours {ours[-1]:,.0f}/s, baseline {baseline[-1]:,.0f}/s", flush=True)
        finally:
            for proc in started:
                _stop(proc)
            await _drop_namespace(redis_url, keyspace.namespace)
    return max(ours), max(baseline)


def main(argv: list[str]) -> None:
    match argv:
        case ["load", port]:
            print(asyncio.run(_load(int(port), SECONDS)))
        case ["serve-baseline", port]:
            asyncio.run(_serve_baseline(int(port)))
        case ["serve-ours", port, spec]:
            from townsquare.core.logs import configure_logging

            server_spec = json.loads(spec)
            # As the service runs: one JSON line per request at info level, here into a file.
            with open(server_spec["log"], "a") as log_file:
                configure_logging(level="info", fmt="json", stream=log_file)
                asyncio.run(_serve_ours(int(port), server_spec))
        case _:
            work = Path(tempfile.mkdtemp(prefix="townsquare-bench-"))
            try:
                with servers() as (redis_url, server_url):
                    ours, baseline = asyncio.run(_bench(redis_url, server_url, work))
            finally:
                shutil.rmtree(work, ignore_errors=True)
            ratio = ours / baseline
            print(f"ours {ours:,.0f}/s, bare Quart 204 {baseline:,.0f}/s, ratio {ratio:.3f}")
            print(
                json.dumps(
                    {
                        "benchmark": "streams_webhooks",
                        "value": round(ours, 1),
                        "unit": "notifications/s",
                        "baseline": round(baseline, 1),
                        "ratio": round(ratio, 3),
                        "target_ratio": TARGET_RATIO,
                    }
                )
            )


if __name__ == "__main__":
    main(sys.argv[1:])
