"""Message XP applied per second through a real worker: batches versus one task per message.

One process runs a real `xp` worker (`run_worker`, the platform's registry) in its event loop;
N message records from M members (in time order over the last half hour, like a chat) are queued on
the `xp` stream as `xp.process_batch` jobs the way a shard publishes them, BATCH records per
job. The rate is N over the time from the first XADD to the stream being drained, and the
totals are checked exact at the end. Baseline, same run, same worker settings: the same
messages as one job each. The guild's configuration is put in the Redis config cache first,
and its XP marked loaded (docs/xp.md), so the run needs Redis only:
`TOWNSQUARE_BENCH_REDIS_URL` (or `TOWNSQUARE_TEST_REDIS_URL`),
else an embedded Valkey in a temporary directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

import redis.asyncio as aioredis

from townsquare.core.config.cache import store_config
from townsquare.core.config.service import VersionedConfig
from townsquare.core.events import MessageRecord, encode_job
from townsquare.core.events.wire import DATA_FIELD
from townsquare.core.keyspace import Keyspace
from townsquare.core.settings import load_settings
from townsquare.features.xp.domain.rules import message_amount
from townsquare.tasks.registry import load_tasks
from townsquare.tasks.worker import run_worker

MESSAGES = 20_000
MEMBERS = 500
BATCH = 100
BASELINE_MESSAGES = 5_000
GUILD = 81_384_788_765_712_384


def make_records(count: int, now: int, seed: int) -> list[MessageRecord]:
    rng = random.Random(seed)
    return [
        MessageRecord(
            guild_id=GUILD,
            channel_id=1000 + rng.randrange(5),
            author_id=10_000 + rng.randrange(MEMBERS),
            message_id=10**17 + n,
            # A chat stream: in time order, as a shard sees it.
            timestamp_ms=now - 1_800_000 + n * 1_800_000 // count,
            role_ids=(),
            length=20,
            mention_count=0,
            link_count=0,
        )
        for n in range(count)
    ]


def expected_totals(records: list[MessageRecord], section: object) -> dict[int, int]:
    totals: dict[int, int] = {}
    last: dict[int, int] = {}
    cooldown = section.cooldown_seconds * 1000  # type: ignore[attr-defined]
    for record in sorted(records, key=lambda r: (r.timestamp_ms, r.message_id)):
        totals.setdefault(record.author_id, 0)
        if record.author_id in last and record.timestamp_ms - last[record.author_id] < cooldown:
            continue
        totals[record.author_id] += message_amount(section, record)  # type: ignore[arg-type]
        last[record.author_id] = record.timestamp_ms
    return {member: total for member, total in totals.items() if total}


async def run(redis_url: str, batch: int, count: int, seed: int) -> float:
    settings = load_settings(environ={}, env_file=None)
    keyspace = Keyspace(f"b{uuid.uuid4().hex[:12]}")
    redis = aioredis.Redis.from_url(redis_url)
    await store_config(redis, keyspace, GUILD, VersionedConfig(1, settings.guild_defaults))
    # No PostgreSQL to load the guild's XP from: it counts as loaded, with no members yet.
    await redis.set(keyspace.key("xp_loaded", GUILD), 1)
    records = make_records(count, int(time.time() * 1000), seed)
    stream = keyspace.key("stream", "xp")
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(settings, redis_url, keyspace, ("xp",), shutdown=stop, registry=load_tasks())
    )
    try:
        started = time.perf_counter()
        async with redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(records), batch):
                chunk = [r.model_dump(mode="json") for r in records[start : start + batch]]
                pipe.xadd(stream, {DATA_FIELD: encode_job("xp.process_batch", chunk)})
            last_id = (await pipe.execute())[-1]
        while True:
            groups = await redis.xinfo_groups(stream)
            if groups and groups[0]["pending"] == 0 and groups[0]["last-delivered-id"] == last_id:
                break
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
        raw = await redis.hgetall(keyspace.key("xp", GUILD))
        totals = {int(m): int(x) for m, x in raw.items()}
        if totals != expected_totals(records, settings.guild_defaults.xp):
            raise SystemExit("totals are not exact")
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=30)
        async for key in redis.scan_iter(match=f"{keyspace.namespace}:*", count=1000):
            await redis.delete(key)
        await redis.aclose()
    return count / elapsed


def main() -> None:
    with contextlib.ExitStack() as stack:
        url = os.environ.get("TOWNSQUARE_BENCH_REDIS_URL") or os.environ.get(
            "TOWNSQUARE_TEST_REDIS_URL"
        )
        if not url:
            from townsquare.core.embedded import start_or_attach_valkey

            root = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            server = start_or_attach_valkey(root / "valkey")
            stack.callback(server.stop)
            url = server.url
        ours = asyncio.run(run(url, BATCH, MESSAGES, seed=1))
        baseline = asyncio.run(run(url, 1, BASELINE_MESSAGES, seed=2))
    print(f"batches of {BATCH}: {ours:,.0f} messages/s; one task per message: {baseline:,.0f}/s")
    print(
        json.dumps(
            {
                "benchmark": "xp_pipeline_throughput",
                "value": round(ours),
                "unit": "messages/s",
                "baseline": round(baseline),
                "ratio": round(ours / baseline, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
