"""Level-up latency: from a message created at the sandbox to the reward-role request that its
level-up causes arriving back at the sandbox, at RATE messages per second.

Processes, as in `bench_pipeline`: the sandbox in a child (its injector paces RATE messages a
second by MEMBERS members, on the real clock; its REST layer logs every request's arrival
time), one shard in a child (`run_shards`, shard batches of 200 or 20 ms), and this process
running a worker for the `xp` and `jobs` pipelines with PostgreSQL connected. `xp.apply_level`
reaches the sandbox through hikari's REST client, as against Discord.

Level-ups are made frequent: cooldown 0 (every message earns 15-25 XP), a linear curve of STEP
XP per level, a reward role per level 1..LEVELS (stacked), notices off. The sandbox's REST
rate limits are lifted for this run: Discord's bucket for member role changes (10 per 10 s per
guild, which the sandbox enforces) would otherwise be what is measured; a real guild levels
up far less often than this synthetic one. For every reward-role PUT the sandbox logged, the
message that took that member over that level's threshold is found with the reference model
(`reference_totals` per message, in time order), and the latency is the PUT's arrival minus
that message's creation, both on the sandbox's clock.

JSON line: value = p99 in ms; baseline = p50 in ms, same run; ratio = p99 / p50 (how much
longer the slowest 1% take than the median).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import statistics
import tempfile
import typing
from pathlib import Path

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
from townsquare.core.discord import sandbox_info_path, write_sandbox_info
from townsquare.core.logs import configure_logging
from townsquare.core.settings import load_settings
from townsquare.features.xp.domain.models import LevelReward
from townsquare.sandbox import SandboxInfo
from townsquare.tasks.registry import load_tasks
from townsquare.tasks.worker import run_worker

if typing.TYPE_CHECKING:
    from benchmarks._support import Chat
    from townsquare.core.keyspace import Keyspace

RATE = 1_000
SECONDS = 20
MEMBERS = 100
STEP = 500
"""XP per level: a member (10 messages/s, ~20 XP each) levels up every 2.5 s."""
LEVELS = 12
TARGET_P99_MS = 100.0
WAIT = 60.0
INFO_FIELDS = tuple(field.name for field in dataclasses.fields(SandboxInfo))
"""What the sandbox child reports that the product's processes read (its info file)."""


def crossings(messages: list[Chat]) -> dict[tuple[int, int], Chat]:
    """(member, level) -> the message that took the member to that level (cooldown 0: every
    message earns its amount, per the reference model)."""
    found: dict[tuple[int, int], Chat] = {}
    totals: dict[int, int] = {}
    for chat in sorted(messages, key=lambda c: (c.ts, c.id)):
        amount = reference_totals([chat], minimum=15, maximum=25, cooldown_ms=0)[chat.author]
        before = totals.get(chat.author, 0)
        totals[chat.author] = before + amount
        for level in range(before // STEP + 1, totals[chat.author] // STEP + 1):
            found[chat.author, level] = chat
    return found


async def drained(redis: aioredis.Redis, keyspace: Keyspace, pipeline: str) -> bool:
    stream = keyspace.key("stream", pipeline)
    if not await redis.exists(stream):
        return True
    groups = await redis.xinfo_groups(stream)
    last = (await redis.xinfo_stream(stream))["last-generated-id"]
    return bool(groups and groups[0]["pending"] == 0 and groups[0]["last-delivered-id"] == last)


async def measure(redis_url: str, server_url: str) -> tuple[list[float], int, int]:
    """Latencies in seconds, level-ups expected, role requests seen."""
    keyspace = new_keyspace()
    redis = aioredis.Redis.from_url(redis_url)
    var_dir = Path(tempfile.mkdtemp(prefix="townsquare-bench-var-"))
    settings = load_settings(environ={"TOWNSQUARE__PATHS__VAR_DIR": str(var_dir)}, env_file=None)
    stop = asyncio.Event()
    try:
        async with (
            fresh_database(server_url) as database_url,
            connect(database_url),
            SandboxChild.running(
                members=MEMBERS, virtual_clock=False, unlimited_rest=True
            ) as sandbox,
        ):
            guild = sandbox.info["guild_id"]
            write_sandbox_info(
                sandbox_info_path(settings), {k: str(sandbox.info[k]) for k in INFO_FIELDS}
            )
            roles = await sandbox.create_roles(LEVELS)
            curve = {"kind": "linear", "linear_step": STEP, "table": []}
            notice = {"mode": "off", "channel_id": None, "template": "{user} reached {level}"}
            await configure_guild(
                guild,
                xp={"cooldown_seconds": 0, "curve": curve},
                levels={"reward_mode": "stack", "notice": notice},
            )
            for level, role in enumerate(roles, start=1):
                await LevelReward.create(guild_id=guild, level=level, role_id=role)
            worker = asyncio.create_task(
                run_worker(
                    settings,
                    redis_url,
                    keyspace,
                    ("xp", "jobs"),
                    shutdown=stop,
                    registry=load_tasks(),
                )
            )
            try:
                async with shard_child(
                    sandbox.info, redis_url, keyspace, batch_size=200, batch_ms=20
                ):
                    await wait_for(
                        lambda: redis.hexists(keyspace.key("xp_guild", guild), "name"),
                        within=WAIT,
                        what="the shard's guild record applied",
                    )
                    count = RATE * SECONDS
                    messages, started, finished = await sandbox.chat(count, rate=RATE, seed=5)
                    counts = keyspace.key("xp_messages", guild)

                    async def settled() -> bool:
                        return (
                            await hash_sum(redis, counts) >= count
                            and await drained(redis, keyspace, "xp")
                            and await drained(redis, keyspace, "jobs")
                        )

                    await wait_for(settled, within=WAIT, what="every message and level-up")
                    calls = await sandbox.role_requests()
            finally:
                stop.set()
                await asyncio.wait_for(worker, timeout=30)
        rate = count / (finished - started)
        print(f"injected {count:,} messages in {finished - started:.2f} s ({rate:,.0f}/s)")
        totals = {
            int(m): int(x) for m, x in (await redis.hgetall(keyspace.key("xp", guild))).items()
        }
        if totals != reference_totals(messages, minimum=15, maximum=25, cooldown_ms=0):
            raise SystemExit("XP totals differ from the reference model")
    finally:
        await clear_keyspace(redis, keyspace)
        await redis.aclose()
        shutil.rmtree(var_dir, ignore_errors=True)
    level_of = {role: level for level, role in enumerate(roles, start=1)}
    crossed = crossings(messages)
    expected = {key for key in crossed if key[1] <= LEVELS}
    latencies = []
    for user, role, at, status in calls:
        if status < 300 and role in level_of:
            latencies.append(at - crossed[user, level_of[role]].created_at)
    seen = {(user, level_of[role]) for user, role, _, status in calls if status < 300}
    if seen != expected:
        raise SystemExit(f"role requests {len(seen)} differ from level-ups {len(expected)}")
    return latencies, len(expected), len(calls)


def main() -> None:
    configure_logging(level="warning")
    with servers() as (redis_url, server_url):
        latencies, level_ups, calls = asyncio.run(measure(redis_url, server_url))
    cuts = statistics.quantiles([s * 1000 for s in latencies], n=100, method="inclusive")
    p50, p90, p99 = cuts[49], cuts[89], cuts[98]
    worst = max(latencies) * 1000
    print(
        f"{level_ups:,} level-ups, {calls:,} role requests, every one matched to its message; "
        f"latency p50 {p50:.1f} ms, p90 {p90:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms"
    )
    met = p99 < TARGET_P99_MS
    print(
        f"target p99 < {TARGET_P99_MS:.0f} ms at {RATE:,} messages/s: {'met' if met else 'NOT met'}"
    )
    print(
        json.dumps(
            {
                "benchmark": "pipeline_levelup_latency",
                "value": round(p99, 1),
                "unit": "ms (p99)",
                "baseline": round(p50, 1),
                "ratio": round(p99 / p50, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
