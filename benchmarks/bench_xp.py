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

import random
import time

from benchmarks._support import compare_batches, pipeline_worker, queue_and_drain
from townsquare.core.config.cache import store_config
from townsquare.core.config.service import VersionedConfig
from townsquare.core.events import MessageRecord, encode_job
from townsquare.core.settings import load_settings
from townsquare.features.xp.domain.config import XPSection
from townsquare.features.xp.domain.rules import message_amount

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
    records = make_records(count, int(time.time() * 1000), seed)
    async with pipeline_worker(settings, redis_url, "xp") as (redis, keyspace):
        await store_config(redis, keyspace, GUILD, VersionedConfig(1, settings.guild_defaults))
        # No PostgreSQL to load the guild's XP from: it counts as loaded, with no members yet.
        await redis.set(keyspace.key("xp_loaded", GUILD), 1)
        stream = keyspace.key("stream", "xp")
        jobs = [
            encode_job(
                "xp.process_batch", [r.model_dump(mode="json") for r in records[i : i + batch]]
            )
            for i in range(0, len(records), batch)
        ]
        elapsed = await queue_and_drain(redis, stream, jobs)
        raw = await redis.hgetall(keyspace.key("xp", GUILD))
        totals = {int(m): int(x) for m, x in raw.items()}
        if totals != expected_totals(records, settings.guild_defaults.section(XPSection)):
            raise SystemExit("totals are not exact")
    return count / elapsed


def main() -> None:
    compare_batches(
        "xp_pipeline_throughput",
        run,
        batch=BATCH,
        messages=MESSAGES,
        baseline_messages=BASELINE_MESSAGES,
    )


if __name__ == "__main__":
    main()
