"""Pipeline throughput: messages per second from the sandbox to XP applied in Redis, with the
whole pipeline running, against one task per message.

Three processes share the 2 cores, with Redis and PostgreSQL:

- the sandbox (`_support_processes.SandboxChild`): its injector creates MESSAGES chat
  messages by MEMBERS members straight in the world, as fast as it can, on a virtual clock
  20 ms apart (so the 60 s cooldown decides: each member posts about every 10 s of message
  time);
- one shard (`_support_processes.shard_child`): `run_shards`, the real hikari `GatewayBot`,
  normalising and publishing batches (`shards.batch_size` 200, `batch_ms` 20);
- this process: the `xp` worker (`run_worker`, the platform's tasks, PostgreSQL connected for
  the guild's configuration), and a poll of Redis every 5 ms.

The rate is MESSAGES over the time from the first message created at the sandbox to the last
one counted in Redis (`xp_messages`, written by the same script that awards). The XP totals
are then checked against `reference_totals`. Baseline, same run, same processes and worker
settings: the shard with `batch_size` 1, so each message is its own `xp.process_batch` job
(one taskiq task per message), BASELINE_MESSAGES messages. Each run gets a fresh sandbox,
shard, worker and Redis namespace; the database is created for the benchmark and dropped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time

import redis.asyncio as aioredis

from benchmarks._support import (
    clear_keyspace,
    configure_guild,
    fresh_database,
    hash_sum,
    new_keyspace,
    reference_totals,
    servers,
    wait_for,
)
from benchmarks._support_processes import SandboxChild, shard_child
from townsquare.core.db import connect
from townsquare.core.logs import configure_logging
from townsquare.core.settings import load_settings
from townsquare.features.xp.domain.config import XPSection
from townsquare.tasks.registry import load_tasks
from townsquare.tasks.worker import run_worker

MESSAGES = 120_000
BASELINE_MESSAGES = 12_000
MEMBERS = 500
STEP_MS = 20
"""Message time between consecutive messages: 120,000 span 40 minutes (the lateness
window is an hour)."""
TARGET = 10_000
WAIT = 120.0


@dataclasses.dataclass(frozen=True, slots=True)
class Run:
    messages: int
    seconds: float
    inject_seconds: float
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux /proc)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def redis_cpu(redis: aioredis.Redis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def run_once(redis_url: str, *, count: int, batch_size: int, seed: int) -> Run:
    settings = load_settings(environ={}, env_file=None)
    xp = settings.guild_defaults.section(XPSection)
    keyspace = new_keyspace()
    redis = aioredis.Redis.from_url(redis_url)
    stop = asyncio.Event()
    try:
        async with SandboxChild.running(
            members=MEMBERS, virtual_clock=True, unlimited_rest=False
        ) as sandbox:
            guild = sandbox.info["guild_id"]
            await configure_guild(guild)  # the defaults: 15-25 XP, 60 s cooldown
            worker = asyncio.create_task(
                run_worker(
                    settings, redis_url, keyspace, ("xp",), shutdown=stop, registry=load_tasks()
                )
            )
            try:
                async with shard_child(
                    sandbox.info, redis_url, keyspace, batch_size=batch_size, batch_ms=20
                ) as shard:
                    await wait_for(
                        lambda: redis.hexists(keyspace.key("xp_guild", guild), "name"),
                        within=WAIT,
                        what="the shard's guild record applied",
                    )
                    counts = keyspace.key("xp_messages", guild)

                    async def all_counted() -> bool:
                        return await hash_sum(redis, counts) >= count

                    pids = {"sandbox": sandbox.process.pid, "shard": shard.pid}
                    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                    redis_before, own_before = await redis_cpu(redis), time.process_time()
                    start_ms = int(time.time() * 1000) - 45 * 60_000
                    chat = asyncio.create_task(
                        sandbox.chat(count, start_ms=start_ms, step_ms=STEP_MS, seed=seed)
                    )
                    done_at = await wait_for(all_counted, within=WAIT, what="every message")
                    messages, started, finished = await chat
                    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
                    cpu["worker (this process)"] = time.process_time() - own_before
                    cpu["redis"] = await redis_cpu(redis) - redis_before
            finally:
                stop.set()
                await asyncio.wait_for(worker, timeout=30)
        raw = await redis.hgetall(keyspace.key("xp", guild))
        totals = {int(m): int(x) for m, x in raw.items()}
        expected = reference_totals(
            messages,
            minimum=xp.per_message_min,
            maximum=xp.per_message_max,
            cooldown_ms=xp.cooldown_seconds * 1000,
        )
        if len(messages) != count or totals != expected:
            raise SystemExit("XP totals differ from the reference model")
    finally:
        await clear_keyspace(redis, keyspace)
        await redis.aclose()
    return Run(count, done_at - started, finished - started, cpu)


async def measure(redis_url: str, server_url: str) -> tuple[Run, Run]:
    async with fresh_database(server_url) as database_url, connect(database_url):
        ours = await run_once(redis_url, count=MESSAGES, batch_size=200, seed=1)
        baseline = await run_once(redis_url, count=BASELINE_MESSAGES, batch_size=1, seed=2)
    return ours, baseline


def describe(name: str, run: Run) -> str:
    cpu = ", ".join(f"{k} {v / run.messages * 1e6:.0f}" for k, v in run.cpu.items())
    return (
        f"{name}: {run.messages:,} messages applied in {run.seconds:.2f} s = {run.rate:,.0f}/s "
        f"(injected in {run.inject_seconds:.2f} s); CPU µs per message: {cpu}"
    )


def main() -> None:
    configure_logging(level="warning")
    with servers() as (redis_url, server_url):
        ours, baseline = asyncio.run(measure(redis_url, server_url))
    ratio = ours.rate / baseline.rate
    print(describe("batched (shard batches of up to 200)", ours))
    print(describe("one task per message (shard batch_size 1)", baseline))
    met = ours.rate >= TARGET and ratio >= 3
    print(
        f"target >= {TARGET:,}/s and >= 3x the baseline: {'met' if met else 'NOT met'} "
        f"({ours.rate:,.0f}/s, {ratio:.2f}x); XP totals exact in both runs"
    )
    print(
        json.dumps(
            {
                "benchmark": "pipeline_throughput",
                "value": round(ours.rate),
                "unit": "messages/s",
                "baseline": round(baseline.rate),
                "ratio": round(ratio, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
