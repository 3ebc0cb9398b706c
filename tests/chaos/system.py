"""The platform under test: a private Valkey (AOF on), a scratch PostgreSQL database, the
sandbox with its crowd in this process, and the product's processes (shards, two workers,
the scheduler, HTTP) as supervised children, as `townsquare up` runs them.

Redis, PostgreSQL and the internal API are reached through loopback TCP proxies the run can
cut (an outage without stopping a server); Valkey itself is also SIGKILLed and started again.
The sandbox stays in this process so the checks read its own records: every message its
members sent (a world listener), every REST call the bot made, every interaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
import time
import typing
import uuid

import aiohttp
import redis.asyncio as aioredis
import yarl

from tests.chaos.leftovers import held_locks, ports_of_processes
from tests.support.databases import scratch_database
from tests.support.tcp_proxy import TCPProxy, proxied_url, tcp_proxy
from tests.support.waiting import wait_until
from tests.support.world import demo_guild
from townsquare.core import db
from townsquare.core.discord import sandbox_info_path, write_sandbox_info
from townsquare.core.embedded import start_or_attach_postgres, start_or_attach_valkey
from townsquare.core.keyspace import Keyspace
from townsquare.core.processes import free_port, process_alive
from townsquare.core.settings import load_settings
from townsquare.sandbox import Sandbox
from townsquare.supervisor import ChildSpec, Supervisor, crash_alerts

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from townsquare.core.embedded import EmbeddedServer
    from townsquare.core.settings import Settings
    from townsquare.sandbox.world.state import Dispatch

__all__ = ["CHILDREN", "BotPost", "Sent", "System", "running_system"]

CHILDREN: typing.Final = ("shards", "worker-a", "worker-b", "scheduler", "http")
"""The supervised processes; two workers, so one takes over what a killed one held."""

USER_MESSAGE_TYPES: typing.Final = frozenset({0, 19})


@dataclasses.dataclass(frozen=True, slots=True)
class Sent:
    """One message a member sent in the demo guild, as the sandbox emitted it."""

    message_id: int
    channel_id: int
    author_id: int
    content: str = ""


def _chaos_environ(
    var_dir: Path, namespace: str, http_port: int, api_port: int, metrics: dict[str, int]
) -> dict[str, str]:
    """Settings of every process: short takeover times (a killed worker's jobs move within
    seconds, not minutes), listener ports picked free for this run (the machine is shared),
    every process's metrics listener on, the assistant on (the sandbox's loopback Gemini)."""
    environ = {
        "TOWNSQUARE__PATHS__VAR_DIR": str(var_dir),
        "TOWNSQUARE__REDIS__NAMESPACE": namespace,
        "TOWNSQUARE__LOGGING__FORMAT": "json",
        "TOWNSQUARE__HTTP__PORT": str(http_port),
        "TOWNSQUARE__HTTP__PUBLIC_URL": f"http://127.0.0.1:{http_port}",
        "TOWNSQUARE__HTTP__INTERNAL_URL": f"http://127.0.0.1:{api_port}",
        "TOWNSQUARE__HTTP__METRICS_PORT": str(metrics["http"]),
        "TOWNSQUARE__METRICS__SHARDS_PORT": str(metrics["shards"]),
        "TOWNSQUARE__METRICS__WORKER_PORT": "0",  # each worker gets --metrics-port
        "TOWNSQUARE__METRICS__SCHEDULER_PORT": str(metrics["scheduler"]),
        "TOWNSQUARE__DATABASE__POOL_MAX": "4",
        "TOWNSQUARE__TASKS__RECLAIM_INTERVAL_SECONDS": "1",
    }
    for pipeline, idle in (("xp", 4), ("automod", 8), ("ai", 20), ("jobs", 20)):
        environ[f"TOWNSQUARE__TASKS__{pipeline.upper()}__IDLE_TIMEOUT_SECONDS"] = str(idle)
    return environ


@dataclasses.dataclass(frozen=True, slots=True)
class BotPost:
    """One message the bot posted (non-ephemeral), as the sandbox emitted it."""

    message_id: int
    channel_id: int
    content: str
    footers: tuple[str, ...]
    urls: tuple[str, ...]
    """The embeds' links (a live card's stream)."""


@dataclasses.dataclass
class System:
    """What a fault and a check need to reach."""

    workdir: Path
    sandbox: Sandbox
    http: aiohttp.ClientSession
    keyspace: Keyspace
    settings: Settings
    """The driver's own settings: the servers reached directly, not through the proxies."""
    redis_url: str
    database_url: str
    valkey: EmbeddedServer
    redis_proxy: TCPProxy
    database_proxy: TCPProxy
    api_proxy: TCPProxy
    http_port: int
    supervisor: Supervisor
    metrics_ports: dict[str, int]
    """Each child's metrics listener."""
    child_ports: dict[int, str] = dataclasses.field(default_factory=dict)
    """Ports the children were listening on just before the stop -> which child."""
    locks_after_stop: dict[str, int] | None = None
    """Lock and lease keys left in Redis once the children stopped -> TTL ms (None: not read)."""
    locks_read_at: float = 0.0
    sent: list[Sent] = dataclasses.field(default_factory=list)
    bot_posts: list[BotPost] = dataclasses.field(default_factory=list)
    stop_event: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    running: asyncio.Task[None] | None = None
    redis: aioredis.Redis = dataclasses.field(init=False)
    sandbox_port: int = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.redis = aioredis.Redis.from_url(self.redis_url)
        self.sandbox_port = yarl.URL(self.sandbox.info.control_url).port or 0

    @property
    def guild_id(self) -> int:
        return demo_guild(self.sandbox).id

    def record(self, dispatch: Dispatch) -> None:
        """World listener: every message members sent in the demo guild, and the bot's."""
        if dispatch.name != "MESSAGE_CREATE":
            return
        data = dispatch.data
        author = data.get("author", {})
        if author.get("bot"):
            embeds = data.get("embeds", [])
            footers = tuple(str((e.get("footer") or {}).get("text", "")) for e in embeds)
            urls = tuple(str(e.get("url", "")) for e in embeds)
            post = BotPost(
                int(data["id"]), int(data["channel_id"]), data.get("content", ""), footers, urls
            )
            self.bot_posts.append(post)
            return
        if dispatch.guild_id != self.guild_id or data.get("webhook_id"):
            return
        if data.get("type") not in USER_MESSAGE_TYPES:
            return
        self.sent.append(
            Sent(
                int(data["id"]),
                int(data["channel_id"]),
                int(author["id"]),
                str(data.get("content") or ""),
            )
        )

    async def ready(self, within: float = 90.0) -> None:
        """Until the shard's guild record is applied and the HTTP service answers."""
        await wait_until(
            lambda: self.redis.hexists(self.keyspace.key("xp_guild", self.guild_id), "name"),
            within=within,
            what="the shard's guild record applied",
        )
        await wait_until(self.api_ready, within=within, what="the HTTP service up")

    async def stopping(self) -> None:
        """Stop the children (SIGTERM, then SIGKILL), the sandbox and the clients. Notes the
        ports the children listen on before, and the locks left in Redis after (Valkey
        still runs: it stops last)."""
        names = {pid: name for name, pid in self.supervisor.pids().items()}
        self.child_ports = {
            port: names[pid] for port, pid in ports_of_processes(list(names)).items()
        }
        self.stop_event.set()
        if self.running is not None:
            await self.running
        with contextlib.suppress(Exception):  # unread: the check says so
            self.locks_after_stop = await held_locks(self.redis, self.keyspace)
            self.locks_read_at = time.time()
        await self.sandbox.stop()
        await self.redis.aclose()

    def run_ports(self) -> dict[int, str]:
        """Every port this run listens on -> what listens there."""
        ports = {port: f"{child} (found listening)" for port, child in self.child_ports.items()}
        ports[self.http_port] = "http"
        ports.update({port: f"{child} metrics" for child, port in self.metrics_ports.items()})
        ports[yarl.URL(self.redis_url).port or 0] = "valkey"
        ports[self.sandbox_port] = "sandbox"
        for name in ("redis_proxy", "database_proxy", "api_proxy"):
            ports[getattr(self, name).port] = name.replace("_", " ")
        ports.pop(0, None)
        return ports

    async def kill_valkey(self) -> None:
        """SIGKILL Valkey and start it again on the same port, on the same data directory.

        Its AOF (appendfsync everysec) keeps every write it acknowledged: Valkey writes the
        AOF buffer to the file before it answers, so a killed process loses nothing the
        kernel has; only a machine crash loses the last second (docs/reliability.md)."""
        port = yarl.URL(self.redis_url).port or 0
        pid = self.valkey.pid
        os.kill(pid, signal.SIGKILL)
        await wait_until(lambda: not process_alive(pid), within=10, what="Valkey gone")
        await asyncio.to_thread(self.valkey.stop)  # reaps it, removes its record
        self.valkey = await asyncio.to_thread(
            start_or_attach_valkey, self.workdir / "valkey", port=port
        )
        await self.redis.aclose()  # its pooled connections died with the server
        self.redis = aioredis.Redis.from_url(self.redis_url)

    async def control(self, method: str, path: str, body: object = None) -> typing.Any:
        """The sandbox's control API."""
        url = self.sandbox.info.control_url + path
        async with self.http.request(method, url, json=body) as answer:
            assert answer.status < 300, f"{method} {path}: {answer.status} {await answer.text()}"
            return await answer.json() if answer.content_type == "application/json" else None

    async def api_ready(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.http_port}/healthz"
            async with self.http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as answer:
                return answer.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False


@contextlib.asynccontextmanager
async def _database(workdir: Path, server_url: str | None) -> AsyncIterator[str]:
    """A scratch database on `server_url`, else on the test server
    (`TOWNSQUARE_TEST_DATABASE_URL`), else on an embedded PostgreSQL under `workdir`."""
    server_url = server_url or os.environ.get("TOWNSQUARE_TEST_DATABASE_URL")
    embedded = None
    if not server_url:
        embedded = await asyncio.to_thread(start_or_attach_postgres, workdir / "postgres")
        server_url = embedded.url
    try:
        async with scratch_database(server_url, "chaos") as url:
            yield url
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


@contextlib.asynccontextmanager
async def running_system(
    workdir: Path, *, seed: int, server_database_url: str | None = None
) -> AsyncIterator[System]:
    """The platform, up and connected (the crowd still paused), for a block."""
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    valkey = await asyncio.to_thread(start_or_attach_valkey, workdir / "valkey")
    try:
        async with (
            _database(workdir, server_database_url) as database_url,
            tcp_proxy(valkey.url) as redis_proxy,
            tcp_proxy(database_url) as database_proxy,
            aiohttp.ClientSession() as http,
        ):
            http_port = free_port()
            async with tcp_proxy(f"http://127.0.0.1:{http_port}") as api_proxy:
                system = await _start(
                    workdir,
                    seed,
                    valkey,
                    database_url,
                    redis_proxy,
                    database_proxy,
                    api_proxy,
                    http,
                )
                try:
                    async with db.connect(database_url, pool_max=2):
                        yield system
                finally:
                    await system.stopping()
                    valkey = system.valkey
    finally:
        await asyncio.to_thread(valkey.stop)


async def _start(
    workdir: Path,
    seed: int,
    valkey: EmbeddedServer,
    database_url: str,
    redis_proxy: TCPProxy,
    database_proxy: TCPProxy,
    api_proxy: TCPProxy,
    http: aiohttp.ClientSession,
) -> System:
    var_dir = workdir / "var"
    namespace = f"chaos{uuid.uuid4().hex[:8]}"
    http_port = api_proxy.target_port
    metrics_ports = {name: free_port() for name in CHILDREN}
    environ = _chaos_environ(var_dir, namespace, http_port, api_proxy.port, metrics_ports)
    settings = load_settings(
        environ={
            **environ,
            "TOWNSQUARE__REDIS__URL": valkey.url,
            "TOWNSQUARE__DATABASE__URL": database_url,
        },
        env_file=None,
    )
    await db.migrate(database_url)
    sandbox = Sandbox(scenario="demo", port=0, seed=seed)
    await sandbox.start()
    write_sandbox_info(sandbox_info_path(settings), sandbox.info.as_json())
    keyspace = Keyspace(namespace)
    child_env = {
        **os.environ,
        **environ,
        "TOWNSQUARE__REDIS__URL": proxied_url(valkey.url, redis_proxy),
        "TOWNSQUARE__DATABASE__URL": proxied_url(database_url, database_proxy),
    }
    command = (sys.executable, "-m", "townsquare.cli")
    specs = [
        ChildSpec(
            name,
            (
                *command,
                name.split("-")[0],
                *(("--metrics-port", str(metrics_ports[name])) * ("-" in name)),
            ),
        )
        for name in CHILDREN
    ]
    supervisor = Supervisor(
        specs,
        log_dir=workdir / "log",
        cwd=workdir,
        env=child_env,
        on_crash=crash_alerts(valkey.url, keyspace),
        backoff_base_seconds=0.5,
        backoff_max_seconds=4.0,
        stable_seconds=10.0,
    )
    system = System(
        workdir=workdir,
        sandbox=sandbox,
        http=http,
        keyspace=keyspace,
        settings=settings,
        redis_url=valkey.url,
        database_url=database_url,
        valkey=valkey,
        redis_proxy=redis_proxy,
        database_proxy=database_proxy,
        api_proxy=api_proxy,
        http_port=http_port,
        supervisor=supervisor,
        metrics_ports=metrics_ports,
    )
    sandbox.world.subscribe(system.record)
    system.running = asyncio.create_task(supervisor.run(system.stop_event))
    return system
