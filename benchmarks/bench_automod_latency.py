"""Automod latency: from a rule-breaking message created at the sandbox to its deletion by the
bot's DELETE arriving back at the sandbox, with RATE messages per second of traffic.

Processes, as in `bench_pipeline_latency`: the sandbox in a child (its injector paces RATE
messages a second by MEMBERS members on the real clock, every BAD_EVERY-th saying a banned
word; it notes when each message is deleted, one by one or in bulk), one shard in a child
(`run_shards`, shard batches of 200 or 20 ms), and this process running a worker for the
`automod` and `jobs` pipelines with PostgreSQL connected (the guard records a case per
deletion). The guild's only acting rule is the banned word (action `delete`, no points); the
spam and mention rules are off, since 100 members at 1,000 messages/s would all be spammers.
The sandbox's REST rate limits are lifted, as in the level-up run: Discord's buckets would
otherwise be what is measured.

JSON line: value = p99 in ms; baseline = p50 in ms, same run; ratio = p99 / p50.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import typing

import redis.asyncio as aioredis

from benchmarks._support import (
    clear_keyspace,
    configure_guild,
    new_keyspace,
    servers,
    wait_for,
)
from benchmarks._support_processes import SandboxChild, sandbox_and_database, shard_child
from townsquare.core.discord import sandbox_info_path, write_sandbox_info
from townsquare.core.logs import configure_logging
from townsquare.core.settings import load_settings
from townsquare.tasks.registry import load_tasks
from townsquare.tasks.worker import run_worker

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from townsquare.core.settings import Settings

RATE = 1_000
SECONDS = 15
MEMBERS = 100
BAD_EVERY = 50
"""20 rule-breaking messages a second among the 1,000."""
TARGET_P99_MS = 150.0
WAIT = 60.0
INFO_FIELDS = ("rest_url", "gateway_url", "bot_token", "application_id", "control_url")
_OFF = {
    "enabled": False,
    "action": "delete",
    "points": 0,
    "timeout_seconds": 600,
    "exempt_role_ids": [],
    "exempt_channel_ids": [],
}


@contextlib.asynccontextmanager
async def _sandbox_and_database(server_url: str) -> AsyncIterator[tuple[SandboxChild, Settings]]:
    """The sandbox child (no REST limits) and a fresh database, connected; settings whose
    Discord is that sandbox (its `sandbox.json` in a scratch var directory)."""
    async with sandbox_and_database(server_url, members=MEMBERS) as (sandbox, _, var_dir):
        environ = {"TOWNSQUARE__PATHS__VAR_DIR": str(var_dir)}
        settings = load_settings(environ=environ, env_file=None)
        info = {k: str(sandbox.info[k]) for k in INFO_FIELDS}
        write_sandbox_info(sandbox_info_path(settings), info)
        yield sandbox, settings


async def measure(redis_url: str, server_url: str) -> list[float]:
    """Latencies in seconds, one per rule-breaking message."""
    keyspace = new_keyspace()
    redis = aioredis.Redis.from_url(redis_url)
    stop = asyncio.Event()
    try:
        async with _sandbox_and_database(server_url) as (sandbox, settings):
            guild = sandbox.info["guild_id"]
            defaults = settings.guild_defaults.model_dump(mode="json")["moderation"]
            rules = dict.fromkeys(defaults["automod"]["rules"], _OFF)
            rules["words"] = _OFF | {"enabled": True}
            automod = defaults["automod"] | {"banned_words": ["forbidden"], "rules": rules}
            await configure_guild(guild, moderation={"automod": automod, "dm_members": False})
            worker = asyncio.create_task(
                run_worker(
                    settings,
                    redis_url,
                    keyspace,
                    ("automod", "jobs"),
                    shutdown=stop,
                    registry=load_tasks(),
                )
            )
            try:
                async with shard_child(
                    sandbox.info, redis_url, keyspace, batch_size=200, batch_ms=20
                ):
                    await wait_for(  # connected: its guild record is on the xp stream
                        lambda: redis.exists(keyspace.key("stream", "xp")),
                        within=WAIT,
                        what="the shard connected",
                    )
                    count = RATE * SECONDS
                    messages, started, finished = await sandbox.chat(
                        count, rate=RATE, seed=7, bad_every=BAD_EVERY
                    )
                    bad = {m.id: m for n, m in enumerate(messages) if n % BAD_EVERY == 0}

                    async def all_deleted() -> bool:
                        return set(bad) <= set(await sandbox.deletions())

                    await wait_for(all_deleted, within=WAIT, what="every bad message deleted")
                    deleted = await sandbox.deletions()
            finally:
                stop.set()
                await asyncio.wait_for(worker, timeout=30)
        print(f"injected {count:,} messages in {finished - started:.2f} s")
        if set(deleted) != set(bad):
            raise SystemExit(f"{len(set(deleted) - set(bad))} good messages were deleted")
    finally:
        await clear_keyspace(redis, keyspace)
        await redis.aclose()
    return [deleted[m] - bad[m].created_at for m in bad]


def main() -> None:
    configure_logging(level="warning")
    with servers() as (redis_url, server_url):
        latencies = asyncio.run(measure(redis_url, server_url))
    p50, p99 = (
        statistics.quantiles(latencies, n=100, method="inclusive")[i] * 1000 for i in (49, 98)
    )
    verdict = "met" if p99 < TARGET_P99_MS else "NOT met"
    print(
        f"{len(latencies):,} rule-breaking messages deleted; latency p50 {p50:.1f} ms, "
        f"p99 {p99:.1f} ms, max {max(latencies) * 1000:.1f} ms; target p99 < "
        f"{TARGET_P99_MS:.0f} ms at {RATE:,} messages/s: {verdict}"
    )
    result = {"benchmark": "automod_delete_latency", "value": round(p99, 1), "unit": "ms (p99)"}
    print(json.dumps(result | {"baseline": round(p50, 1), "ratio": round(p99 / p50, 2)}))


if __name__ == "__main__":
    main()
