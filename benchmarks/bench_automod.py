"""Automod messages evaluated per second through a real worker: batches versus one task each.

One process runs a real `automod` worker (`run_worker`, the platform's registry) in its event
loop; N chat messages with text from M members (over the last five minutes, in time order, one in
ten with a link to an allowed domain) are queued on the `automod` stream as
`moderation.automod_batch` jobs the way a shard publishes them, BATCH records per job. The
guild runs the `standard` preset plus 200 banned words and link rules (links blocked, allowed
and denied domains): every message goes through every per-message rule, the word matcher, the
link rules and the windowed rules' Lua script. The messages break no rule (a test of the
evaluation, not of Discord's rate limits), which the end checks: no case, every message
judged (each has its verdict in Redis). The rate is N over the time from the first XADD to the
stream being drained. Baseline, same run, same worker: the same kind of messages, one job
each. Needs Redis only: `TOWNSQUARE_BENCH_REDIS_URL` (or `TOWNSQUARE_TEST_REDIS_URL`), else an
embedded Valkey in a temporary directory.
"""

from __future__ import annotations

import random
import time

from benchmarks._support import compare_batches, pipeline_worker, queue_and_drain
from townsquare.core.config.cache import store_config
from townsquare.core.config.service import VersionedConfig
from townsquare.core.events import MessageRecord, encode_job
from townsquare.core.settings import load_settings
from townsquare.features.moderation.domain.config import ModerationSection
from townsquare.features.moderation.domain.jobs import AUTOMOD_TASK
from townsquare.features.moderation.domain.presets import apply_preset

MESSAGES = 40_000
MEMBERS = 20_000
BATCH = 200
BASELINE_MESSAGES = 4_000
GUILD = 81_384_788_765_712_385
WORDS = [f"badword{n}" for n in range(190)] + [f"bad phrase {n}" for n in range(10)]
CHAT = [
    "hello everyone, how is it going today?",
    "did anyone see the stream last night",
    "I think the new update is really good",
    "lol that was funny",
    "anyone up for a game later? I am free after eight",
    "check the docs at https://docs.example.org/guide for the setup",
]


def configured(settings_defaults: ModerationSection) -> ModerationSection:
    section = apply_preset(settings_defaults, "standard")
    document = section.model_dump(mode="json")
    automod = document["automod"]
    automod["banned_words"] = WORDS
    automod["block_links"] = True
    automod["link_allowed_domains"] = ["example.org", "youtube.com"]
    automod["link_denied_domains"] = ["grabify.link", "iplogger.org"]
    automod["rules"]["invites"]["enabled"] = True
    return ModerationSection.model_validate(document)


def make_records(count: int, now: int, seed: int) -> list[MessageRecord]:
    rng = random.Random(seed)
    records = []
    for n in range(count):
        content = f"{rng.choice(CHAT)} #{n}"
        records.append(
            MessageRecord(
                guild_id=GUILD,
                channel_id=1000 + rng.randrange(5),
                author_id=10_000 + rng.randrange(MEMBERS),
                message_id=10**17 + n,
                timestamp_ms=now - 300_000 + n * 300_000 // count,
                role_ids=(),
                length=len(content),
                mention_count=0,
                link_count=content.count("https://"),
                content=content,
            )
        )
    return records


async def run(redis_url: str, batch: int, count: int, seed: int) -> float:
    settings = load_settings(environ={}, env_file=None)
    defaults = settings.guild_defaults
    config = defaults.with_section(configured(defaults.section(ModerationSection)))
    records = make_records(count, int(time.time() * 1000), seed)
    async with pipeline_worker(settings, redis_url, "automod") as (redis, keyspace):
        await store_config(redis, keyspace, GUILD, VersionedConfig(1, config))
        stream = keyspace.key("stream", "automod")
        jobs = [
            encode_job(AUTOMOD_TASK, [r.model_dump(mode="json") for r in records[i : i + batch]])
            for i in range(0, len(records), batch)
        ]
        elapsed = await queue_and_drain(redis, stream, jobs)
        judged = 0
        async for key in redis.scan_iter(match=keyspace.pattern("automod_state"), count=1000):
            judged += sum(1 for field in await redis.hkeys(key) if field.startswith(b"v:"))
        if judged != count:
            raise SystemExit(f"{judged} of {count} messages judged")
        dead = await redis.exists(keyspace.key("dead_letter", "automod"))
        if dead:
            raise SystemExit("a batch was dead-lettered")
    return count / elapsed


def main() -> None:
    compare_batches(
        "automod_throughput",
        run,
        batch=BATCH,
        messages=MESSAGES,
        baseline_messages=BASELINE_MESSAGES,
    )


if __name__ == "__main__":
    main()
