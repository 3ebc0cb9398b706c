"""A large bot on this machine: the `large` sandbox scenario served to four shard processes.

The sandbox (a child process) serves the shipped `large` scenario: 5,000 guilds, 300,000
members, 16 shards. Four shard processes, the real CLI `townsquare shards --cluster I
--clusters 4 --shard-count 16`, run the real hikari client against it and publish to a real
Redis; every shard is its own identify bucket (`max_concurrency` 16, each IDENTIFY checked
against Discord's 5 s), so the shards identify at once and the start is our cost, not
Discord's schedule (with `max_concurrency` 1, Discord alone spaces 16 IDENTIFYs over 75 s).

Measured, for each set-up:
- **storm**: seconds from spawning the processes to every guild's GUILD_CREATE published
  (its guild record in the xp stream), and the shard processes' CPU seconds until then;
- **memory**: RSS and PSS of each shard process once every guild is in, and after the flow;
- **events/s**: MESSAGE_CREATEs posted as fast as the sandbox can, one guild after another
  (every shard its share), from the first created to the last published (the xp stream's
  entry ids: Redis's clock), and the shard processes' CPU µs per event;
- **restart** (four processes only): a flow paced at half that rate, one process SIGKILLed
  once a quarter of it is published and started again at once; every message must reach the
  stream (loss is reported, not hidden), and the restarted shards must RESUME (the sandbox
  counts RESUMEs and IDENTIFYs).

Baseline, same run: one shard process running all 16 shards (`--clusters 1`), on a fresh
sandbox and namespace. The two set-ups also give the scaling: one process holds every guild,
each of the four a quarter, so memory and storm CPU per 1,000 guilds come from the difference.

Knobs: `TOWNSQUARE_BENCH_LARGE_SCALE` (default 1; 0.1 is a quick run of 500 guilds and 30,000
members), `TOWNSQUARE_BENCH_LARGE_MESSAGES` (default 50,000 at full scale). Redis:
`TOWNSQUARE_BENCH_REDIS_URL` or `TOWNSQUARE_TEST_REDIS_URL`, else an embedded Valkey. Not
part of `make test`; `python -m benchmarks bench_large`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
import typing
from pathlib import Path

import redis.asyncio as aioredis

from benchmarks._support import bench_redis_url, clear_keyspace, new_keyspace
from benchmarks._support_large import (
    SHARDS,
    LargeSandbox,
    ShardProcesses,
    StreamWatch,
    process_usage,
)
from townsquare.core.discord import SANDBOX_INFO_FILE, write_sandbox_info

SCALE = float(os.environ.get("TOWNSQUARE_BENCH_LARGE_SCALE", "1"))
MESSAGES = int(
    os.environ.get("TOWNSQUARE_BENCH_LARGE_MESSAGES", str(max(10_000, round(50_000 * SCALE))))
)
CLUSTERS = 4
STORM_TIMEOUT = 900.0
"""Seconds every guild may take to arrive (a loaded machine, one process, full scale)."""
FLOW_TIMEOUT = 300.0
"""Seconds after a flow ends that its last message may take to be published."""
RESTART_FLOW_SECONDS = 30.0
RESUME_TIMEOUT = 60.0
"""Seconds the restarted process's shards may take to RESUME (a SIGKILLed process's shard
leases run out within 10 s; the new one waits for them)."""


async def run_setup(
    clusters: int, redis: aioredis.Redis, redis_url: str, logs: Path
) -> dict[str, typing.Any]:
    """Storm, memory and events/s with `clusters` shard processes (and the restart with more
    than one), on a fresh sandbox and Redis namespace."""
    keyspace = new_keyspace()
    async with LargeSandbox.running(SCALE) as sandbox, contextlib.AsyncExitStack() as stack:
        var = logs / f"var-{clusters}"
        info = {k: v for k, v in sandbox.info.items() if k not in {"guilds", "members"}}
        write_sandbox_info(var / SANDBOX_INFO_FILE, {k: str(v) for k, v in info.items()})
        database = os.environ.get("TOWNSQUARE_BENCH_DATABASE_URL") or os.environ.get(
            "TOWNSQUARE_TEST_DATABASE_URL", "postgres://unused@127.0.0.1:1/unused"
        )  # the shard processes never connect to it; it only must not say `embedded`
        environ = os.environ | {
            "TOWNSQUARE__REDIS__URL": redis_url,
            "TOWNSQUARE__REDIS__NAMESPACE": keyspace.namespace,
            "TOWNSQUARE__DATABASE__URL": database,
            "TOWNSQUARE__PATHS__VAR_DIR": str(var),
            "TOWNSQUARE__METRICS__SHARDS_PORT": "0",
            "TOWNSQUARE__LOGGING__LEVEL": "warning",
        }
        shards = ShardProcesses(clusters, environ, logs)
        stack.push_async_callback(clear_keyspace, redis, keyspace)
        stack.push_async_callback(shards.stop_all)
        watch = StreamWatch(redis, keyspace)
        guilds = int(sandbox.info["guilds"])

        spawned = time.time()
        for cluster in range(clusters):
            await shards.start(cluster)
        if not await watch.wait(
            lambda: len(watch.guilds) >= guilds, STORM_TIMEOUT, shards.check_alive
        ):
            raise SystemExit(
                f"only {len(watch.guilds)} of {guilds} guilds within {STORM_TIMEOUT} s"
            )
        storm = max(watch.guilds.values()) / 1000 - spawned
        at_ready = [process_usage(pid) for pid in shards.pids()]
        started = await sandbox.gateway()

        sandbox_before = process_usage(sandbox.process.pid)
        first = await sandbox.start_flow(MESSAGES, 0.0)
        flow = await flow_rate(sandbox, watch, shards, first)
        after_flow = [process_usage(pid) for pid in shards.pids()]
        sandbox_after = process_usage(sandbox.process.pid)
        cpu_flow = sum(u.cpu_seconds for u in after_flow) - sum(u.cpu_seconds for u in at_ready)
        result = {
            "clusters": clusters,
            "guilds": guilds,
            "members": int(sandbox.info["members"]),
            "sandbox_build_s": round(float(sandbox.info["build_seconds"]), 1),
            "sandbox_rss_mib": round(process_usage(sandbox.process.pid).rss_mib),
            "storm_s": round(storm, 2),
            "first_identify_s": round(started["first_identify_at"] - spawned, 2),
            "last_identify_s": round(started["last_identify_at"] - spawned, 2),
            "storm_cpu_s": round(sum(u.cpu_seconds for u in at_ready), 2),
            "identifies": started["identifies"],
            "identify_violations": started["violations"],
            "rss_mib": [round(u.rss_mib, 1) for u in at_ready],
            "pss_mib": [round(u.pss_mib, 1) for u in at_ready],
            "rss_after_flow_mib": [round(u.rss_mib, 1) for u in after_flow],
            "events_per_s": round(flow["rate"]),
            "shard_cpu_us_per_event": round(cpu_flow / MESSAGES * 1e6, 1),
            "sandbox_cpu_us_per_event": round(
                (sandbox_after.cpu_seconds - sandbox_before.cpu_seconds) / MESSAGES * 1e6, 1
            ),
        }
        if clusters > 1:
            result["restart"] = await restart(sandbox, watch, shards, flow["rate"] / 2)
        return result


async def flow_rate(
    sandbox: LargeSandbox, watch: StreamWatch, shards: ShardProcesses, first: float
) -> dict[str, typing.Any]:
    """Wait for the flow started at `first` and for its messages: the rate from the first
    created to the last published, what was lost (never published) and duplicated."""
    ids, last_created = await sandbox.flow_done()
    arrived = await watch.wait(
        lambda: all(i in watch.messages for i in ids), FLOW_TIMEOUT, shards.check_alive
    )
    published = [watch.message_at[i] for i in ids if i in watch.messages]
    last = max(published) / 1000
    return {
        "rate": len(published) / (last - first),
        "lost": 0 if arrived else sum(1 for i in ids if i not in watch.messages),
        "duplicates": sum(watch.messages[i] - 1 for i in ids if i in watch.messages),
        "lag_s": last - last_created,
    }


async def restart(
    sandbox: LargeSandbox, watch: StreamWatch, shards: ShardProcesses, rate: float
) -> dict[str, typing.Any]:
    """A paced flow during which cluster 1 is SIGKILLed and started again."""
    count = round(rate * RESTART_FLOW_SECONDS)
    before = await sandbox.gateway()
    seen = len(watch.messages)
    per_process = SHARDS // shards.clusters
    first = await sandbox.start_flow(count, rate)
    await watch.wait(lambda: len(watch.messages) - seen >= count // 4, FLOW_TIMEOUT, lambda: None)
    killed = time.time()
    await shards.kill(1)
    await shards.start(1)
    deadline = time.monotonic() + RESUME_TIMEOUT
    while (await sandbox.gateway())["resumes"] < before["resumes"] + per_process:
        if time.monotonic() > deadline:
            raise SystemExit(f"the restarted shards did not resume within {RESUME_TIMEOUT} s")
        await asyncio.sleep(0.2)
    resumed = time.time() - killed
    outcome = await flow_rate(sandbox, watch, shards, first)
    after = await sandbox.gateway()
    return {
        "paced_per_s": round(rate),
        "messages": count,
        "events_per_s": round(outcome["rate"]),
        "resumed_after_s": round(resumed, 1),
        "lag_s": round(outcome["lag_s"], 2),
        "lost": outcome["lost"],
        "duplicates": outcome["duplicates"],
        "resumes": after["resumes"] - before["resumes"],
        "new_identifies": after["identifies"] - before["identifies"],
    }


def scaling(one: dict[str, typing.Any], many: dict[str, typing.Any]) -> dict[str, float]:
    """Per 1,000 guilds, from one process holding every guild and `many` holding a share each:
    RSS, storm CPU and the fixed part of a process (the intercepts)."""
    guilds, clusters = one["guilds"], many["clusters"]
    share = guilds / clusters
    rss_one, rss_many = one["rss_mib"][0], statistics.mean(many["rss_mib"])
    rss_slope = (rss_one - rss_many) / (guilds - share) * 1000
    # storm CPU: one = c0 + k * guilds; many = clusters * c0 + k * guilds
    cpu_fixed = (many["storm_cpu_s"] - one["storm_cpu_s"]) / (clusters - 1)
    cpu_slope = (one["storm_cpu_s"] - cpu_fixed) / guilds * 1000
    return {
        "rss_mib_per_1000_guilds": round(rss_slope, 1),
        "rss_mib_fixed": round(rss_many - rss_slope * share / 1000, 1),
        "storm_cpu_s_per_1000_guilds": round(cpu_slope, 2),
        "storm_cpu_s_fixed": round(cpu_fixed, 2),
        # after the first IDENTIFY: the GUILD_CREATEs, not the processes' own start-up
        "storm_s_per_1000_guilds": round(
            (many["storm_s"] - many["first_identify_s"]) / guilds * 1000, 2
        ),
        "baseline_storm_s_per_1000_guilds": round(
            (one["storm_s"] - one["first_identify_s"]) / guilds * 1000, 2
        ),
        "members_per_guild": round(one["members"] / guilds, 1),
    }


async def run(redis_url: str) -> dict[str, typing.Any]:
    redis = aioredis.Redis.from_url(redis_url)
    try:
        with tempfile.TemporaryDirectory(prefix="townsquare-bench-large-") as scratch:
            logs = Path(scratch)
            one = await run_setup(1, redis, redis_url, logs)
            print(json.dumps({"baseline": one}), flush=True)
            many = await run_setup(CLUSTERS, redis, redis_url, logs)
            print(json.dumps({"ours": many}), flush=True)
    finally:
        await redis.aclose()
    return {"one": one, "many": many, "scaling": scaling(one, many)}


def main() -> None:
    load = os.getloadavg()
    with contextlib.ExitStack() as stack:
        results = asyncio.run(run(bench_redis_url(stack)))
    one, many, per_1000 = results["one"], results["many"], results["scaling"]
    restarted = many["restart"]
    print(
        f"{many['guilds']:,} guilds, {many['members']:,} members, {SHARDS} shards "
        f"(load average {load[0]:.1f} before, {os.getloadavg()[0]:.1f} after)"
    )
    for name, setup in (("1 process", one), (f"{CLUSTERS} processes", many)):
        print(
            f"{name:12} storm {setup['storm_s']:.1f} s ({setup['storm_cpu_s']:.1f} CPU s); "
            f"RSS {setup['rss_mib']} MiB; {setup['events_per_s']:,} events/s "
            f"(CPU µs each: shards {setup['shard_cpu_us_per_event']}, sandbox "
            f"{setup['sandbox_cpu_us_per_event']})"
        )
    print(
        f"restart: SIGKILL during {restarted['paced_per_s']:,}/s, resumed after "
        f"{restarted['resumed_after_s']} s, {restarted['events_per_s']:,} events/s, lost "
        f"{restarted['lost']}, duplicated {restarted['duplicates']}, new IDENTIFYs "
        f"{restarted['new_identifies']}"
    )
    print(f"per 1,000 guilds: {per_1000}")
    print(
        json.dumps(
            {
                "benchmark": "large_bot_events_per_second",
                "value": many["events_per_s"],
                "unit": "events/s",
                "baseline": one["events_per_s"],
                "ratio": round(many["events_per_s"] / one["events_per_s"], 2),
                "guilds": many["guilds"],
                "storm_s": many["storm_s"],
                "baseline_storm_s": one["storm_s"],
                "rss_mib": many["rss_mib"],
                "baseline_rss_mib": one["rss_mib"],
                "restart": restarted,
                "per_1000_guilds": per_1000,
            }
        )
    )


if __name__ == "__main__":
    main()
