"""The large-bot benchmark's processes and probes (no benchmark here; see `bench_large`).

- :class:`LargeSandbox`: the `large` scenario (scaled) served by a sandbox child process,
  whose injector posts chat messages straight into its world, one guild after another (so
  every shard gets its share), as fast as it can or at a rate, while it keeps answering;
- :class:`ShardProcesses`: the real CLI, `townsquare shards --cluster I --clusters N`, one
  process per cluster, each startable, killable and restartable on its own;
- :class:`StreamWatch`: reads the xp stream incrementally (guild and message records, with
  the instant Redis added each batch: the entry id's milliseconds);
- :func:`process_usage`: a process's RSS, PSS and CPU seconds from /proc.

Run as `python -m benchmarks._support_large SCALE`, this module is the sandbox child.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import sys
import time
import typing
from pathlib import Path

from benchmarks._support import ROOT
from benchmarks._support_processes import JsonLineChild
from townsquare.core.events.wire import DATA_FIELD

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = ["LargeSandbox", "ShardProcesses", "StreamWatch", "process_usage"]

SHARDS = 16
"""The scenario's shard count, and every shard process's `--shard-count`."""
START_TIMEOUT = 300.0
"""Seconds the sandbox child may take to build its world (seconds at full scale, idle)."""
IDENTIFY_INTERVAL = 5.0
"""Discord's gap between two IDENTIFYs of a bucket, enforced by the sandbox."""


# ---- the sandbox child -------------------------------------------------------------------


class LargeSandbox(JsonLineChild):
    """The `large` scenario's sandbox child. `info`: `SandboxInfo` fields (as strings), plus
    `guilds`, `members`, `build_seconds`."""

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, scale: float) -> AsyncIterator[LargeSandbox]:
        async with cls.spawned(
            "benchmarks._support_large", [str(scale)], ready_within=START_TIMEOUT
        ) as child:
            yield child

    async def start_flow(self, count: int, rate: float) -> float:
        """Start posting `count` messages (`rate` per second, 0: as fast as it can); returns
        when the first was created (`time.time()`)."""
        return float((await self.request(op="flow", count=count, rate=rate))["started_at"])

    async def flow_done(self) -> tuple[list[int], float]:
        """Wait for the flow (the child answers nothing else meanwhile); the ids it posted
        and when the last was created."""
        reply = await self.request(op="flow_done")
        return [int(i) for i in reply["ids"]], float(reply["finished_at"])

    async def gateway(self) -> dict[str, typing.Any]:
        """Sessions, accepted IDENTIFYs (how many, the first's and last's `time.time()`),
        refused ones (too early in their bucket), RESUMEs."""
        return await self.request(op="gateway")


async def _serve(scale: float) -> None:
    from townsquare.sandbox import Sandbox, SandboxSettings
    from townsquare.sandbox.gateway import GatewaySettings
    from townsquare.sandbox.rest import RateLimitSettings
    from townsquare.sandbox.rest.ratelimits import Bucket
    from townsquare.sandbox.world import load_scenario

    scenario = load_scenario("large")
    assert scenario.generated is not None
    assert scenario.shards == SHARDS
    if scale != 1:
        scenario = scenario.model_copy(update={"generated": scenario.generated.scaled(scale)})
    settings = SandboxSettings(
        # Every shard its own identify bucket, each IDENTIFY still checked against Discord's
        # 5 s: the shards identify at once, so the storm is ours, not Discord's schedule.
        gateway=GatewaySettings(max_concurrency=SHARDS, identify_interval=IDENTIFY_INTERVAL),
        rate_limits=RateLimitSettings(
            routes={}, default=Bucket(1_000_000, 1.0), global_per_second=1_000_000
        ),
    )
    started = time.perf_counter()
    sandbox = Sandbox(scenario=scenario, settings=settings)
    build_seconds = time.perf_counter() - started
    world, hub = sandbox.world, sandbox.hub
    bot = world.application.bot_user_id
    places = []
    for guild in world.guilds.values():
        general = next(c for c in guild.channels.values() if c.name == "general")
        people = [m for m in guild.members if m != bot][:5]
        places.append((general, people))

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    flow: asyncio.Task[tuple[list[int], float]] | None = None

    async def post(count: int, rate: float, started: float) -> tuple[list[int], float]:
        ids = []
        for number in range(count):
            channel, people = places[number % len(places)]
            author = people[(number // len(places)) % len(people)]
            ids.append(world.create_message(channel, author, f"large line {number}").id)
            if rate > 0:
                if (delay := started + (number + 1) / rate - time.time()) > 0.001:
                    await asyncio.sleep(delay)
            elif number % 100 == 99:
                await asyncio.sleep(0)  # let the gateway writers send
        return ids, time.time()

    async with sandbox as info:
        ready = info.as_json() | {
            "guilds": len(world.guilds),
            "members": sum(len(g.members) - 1 for g in world.guilds.values()),
            "build_seconds": build_seconds,
        }
        print(json.dumps(ready), flush=True)
        while line := await reader.readline():
            body = json.loads(line)
            match body["op"]:
                case "flow":
                    started = time.time()
                    flow = asyncio.create_task(post(body["count"], body["rate"], started))
                    reply: dict[str, typing.Any] = {"started_at": started}
                case "flow_done":
                    assert flow is not None
                    ids, finished = await flow
                    reply = {"ids": ids, "finished_at": finished}
                case "gateway":
                    to_wall = time.time() - loop.time()
                    accepted = [i.at + to_wall for i in hub.identifies if i.accepted]
                    reply = {
                        "sessions": len(hub.sessions),
                        "identifies": len(accepted),
                        "first_identify_at": min(accepted, default=0.0),
                        "last_identify_at": max(accepted, default=0.0),
                        "violations": hub.violations,
                        "resumes": hub.resumes,
                    }
                case other:
                    raise SystemExit(f"unknown op {other!r}")
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


# ---- the shard processes -----------------------------------------------------------------


class ShardProcesses:
    """`townsquare shards --cluster I --clusters N --shard-count 16` for every I."""

    def __init__(self, clusters: int, environ: dict[str, str], logs: Path) -> None:
        self.clusters = clusters
        self._environ = environ
        self._logs = logs
        self.processes: dict[int, asyncio.subprocess.Process] = {}

    async def start(self, cluster: int) -> None:
        options = ["--cluster", str(cluster), "--clusters", str(self.clusters)]
        with (self._logs / f"shards-{self.clusters}-{cluster}.log").open("ab") as log:
            self.processes[cluster] = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "townsquare.cli",
                "shards",
                *options,
                "--shard-count",
                str(SHARDS),
                cwd=ROOT,
                env=self._environ,
                stdout=log,
                stderr=log,
            )

    def pids(self) -> list[int]:
        return [process.pid for process in self.processes.values()]

    def check_alive(self) -> None:
        for cluster, process in self.processes.items():
            if process.returncode is not None:
                log = self._logs / f"shards-{self.clusters}-{cluster}.log"
                tail = log.read_text(errors="replace")[-3000:]
                raise SystemExit(f"shard process {cluster} exited ({process.returncode}):\n{tail}")

    async def kill(self, cluster: int) -> None:
        process = self.processes[cluster]
        process.send_signal(signal.SIGKILL)
        await process.wait()

    async def stop_all(self) -> None:
        """SIGTERM each (a clean stop), SIGKILL after 30 s."""
        running = [p for p in self.processes.values() if p.returncode is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


# ---- probes ------------------------------------------------------------------------------


class StreamWatch:
    """What the shard processes published to the xp stream so far, read incrementally."""

    def __init__(self, redis: aioredis.Redis, keyspace: Keyspace) -> None:
        self._redis = redis
        self._key = keyspace.key("stream", "xp")
        self._after = "-"
        """The last entry read (exclusive lower bound of the next read)."""
        self.guilds: dict[int, int] = {}
        """Guild id -> when its first record was added (Unix ms, Redis's clock)."""
        self.messages: collections.Counter[int] = collections.Counter()
        self.message_at: dict[int, int] = {}
        """Message id -> when its first record was added (Unix ms)."""

    async def read(self) -> None:
        while True:
            entries = await self._redis.xrange(self._key, min=self._after, count=1000)
            if not entries:
                return
            for entry_id, fields in entries:
                added = int(entry_id.split(b"-")[0])
                (batch,) = json.loads(fields[DATA_FIELD.encode()])["args"]
                for record in batch:
                    if record["kind"] == "guild":
                        self.guilds.setdefault(int(record["guild_id"]), added)
                    elif record["kind"] == "message":
                        message = int(record["message_id"])
                        self.messages[message] += 1
                        self.message_at.setdefault(message, added)
            self._after = "(" + entries[-1][0].decode()

    async def wait(
        self, done: Callable[[], bool], within: float, alive: Callable[[], None]
    ) -> bool:
        """Read until `done()` (True) or for `within` seconds (False); `alive()` raises if a
        process it depends on has died."""
        deadline = time.monotonic() + within
        while True:
            await self.read()
            if done():
                return True
            alive()
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.2)


class Usage(typing.NamedTuple):
    rss_mib: float
    pss_mib: float
    cpu_seconds: float


def process_usage(pid: int) -> Usage:
    """RSS and PSS (MiB) and user + system CPU seconds of `pid` so far."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    pss = next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return Usage(rss / 1024, pss / 1024, ticks / os.sysconf("SC_CLK_TCK"))


if __name__ == "__main__":
    from townsquare.core.logs import configure_logging

    configure_logging(level="warning")
    asyncio.run(_serve(float(sys.argv[1])))
