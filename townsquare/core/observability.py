"""Each process's own loopback listener: `/metrics`, `/healthz`, `/readyz` (docs/metrics.md).

Shards, workers and the scheduler start one (:class:`ProcessListener`) on their port from the
settings (`metrics.<kind>_port`, 0: none); the HTTP service has its metrics listener already
(`townsquare.http.metrics`) and its `/readyz` on the app. `/metrics` is Prometheus' text
format of the process's registry; `/healthz` answers while the event loop runs; `/readyz` runs
the process's dependency checks side by side (each with :data:`CHECK_TIMEOUT_SECONDS`) and
answers 200 `{"status": "ready", ...}` or 503 `{"status": "unavailable", "failing": [...]}`,
the shape the HTTP service's `/readyz` has.

A port already taken (a second worker on one machine without `--metrics-port`) is logged and
the process runs without a listener: metrics must never stop the work.
"""

from __future__ import annotations

import asyncio
import typing

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    import redis.asyncio as aioredis
    from prometheus_client import CollectorRegistry

__all__ = [
    "CHECK_TIMEOUT_SECONDS",
    "Check",
    "ProcessListener",
    "postgres_check",
    "readiness",
    "redis_check",
]

CHECK_TIMEOUT_SECONDS: typing.Final = 2.0

type Check = Callable[[], Awaitable[object]]
"""A dependency probe: returns when the dependency answers, raises (or is slow) when not."""

logger = structlog.get_logger(__name__)


def redis_check(redis: aioredis.Redis) -> Check:
    async def probe() -> None:
        await redis.ping()

    return probe


def postgres_check() -> Check:
    async def probe() -> None:
        from tortoise import Tortoise

        await Tortoise.get_connection("default").execute_query("SELECT 1")

    return probe


async def _passes(check: Check) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await check()
    except Exception:  # any failure means "not ready"; the body names which
        return False
    return True


async def readiness(checks: Mapping[str, Check]) -> tuple[int, dict[str, typing.Any]]:
    """The status and body of `/readyz` for `checks`."""
    results = await asyncio.gather(*(_passes(check) for check in checks.values()))
    verdicts = dict(zip(checks, results, strict=True))
    failing = sorted(name for name, ok in verdicts.items() if not ok)
    body = {
        "status": "ready" if not failing else "unavailable",
        "checks": {name: "ok" if ok else "failing" for name, ok in verdicts.items()},
        "failing": failing,
    }
    return (200 if not failing else 503), body


class ProcessListener:
    """The aiohttp server of one process (see the module docs)."""

    def __init__(self, kind: str, registry: CollectorRegistry, checks: Mapping[str, Check]) -> None:
        self.kind = kind
        self.registry = registry
        self.checks = dict(checks)
        self.port: int | None = None
        """The bound port once started (the OS's choice when asked for 0 in tests)."""
        self._runner: web.AppRunner | None = None

    def _app(self) -> web.Application:
        async def metrics(_: web.Request) -> web.Response:
            return web.Response(
                body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
            )

        async def healthz(_: web.Request) -> web.Response:
            return web.json_response({"status": "ok", "process": self.kind})

        async def readyz(_: web.Request) -> web.Response:
            status, body = await readiness(self.checks)
            return web.json_response(body | {"process": self.kind}, status=status)

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/readyz", readyz)
        return app

    async def start(self, host: str, port: int) -> int | None:
        """Listen on `host`:`port` (0: a free port); None when the port is taken."""
        runner = web.AppRunner(self._app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            logger.error(
                "metrics.listener_unavailable", process=self.kind, port=port, error=str(error)
            )
            return None
        self._runner = runner
        addresses = runner.addresses
        self.port = int(addresses[0][1]) if addresses else port
        logger.info("metrics.listening", process=self.kind, host=host, port=self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
