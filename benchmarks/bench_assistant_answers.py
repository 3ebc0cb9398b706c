"""Questions in flight and answered per second by one process, the model answering after 1 s.

The sandbox (a child process, `townsquare sandbox --json`) serves the loopback Gemini with 1 s
of latency on every answer, and 0.1 s on embeddings (gemini-embedding-001 is a much smaller
model than the one answering). This process runs the assistant's whole path
(`Assistant.answer`: permission, rate limits, budget, hybrid retrieval (the question's
embedding through batchEmbedContents, full text and the in-process vectors, fused), countTokens
and generateContent through google-genai, reconciliation) for QUESTIONS questions with up to
CONCURRENCY at once, as a worker with that many concurrent tasks does. Reported: questions
completed per second (targets: at least 200 in flight, at least 150 per second); the peak in
flight is printed. Baseline, same run: the same path one question at a time.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

from benchmarks._support import clear_keyspace, fresh_database, new_keyspace, servers
from townsquare.core.db import connect
from townsquare.core.guilds.service import ensure_guild
from townsquare.core.premium import Gate, PremiumCatalogue, store_guild_tier
from townsquare.core.settings import load_settings
from townsquare.features.assistant.domain.ask import Asked
from townsquare.features.assistant.domain.config import AISection
from townsquare.features.assistant.domain.embeddings import embed_pending
from townsquare.features.assistant.domain.knowledge import DocumentInput, create_document
from townsquare.features.assistant.domain.service import assistant_for, model_for

QUESTIONS = int(os.environ.get("BENCH_QUESTIONS", "1200"))
CONCURRENCY = 250
BASELINE_QUESTIONS = 5
GUILD = 3_333_333_333_333_333_333
RULES = """## Links
Do not post invite links to other servers. Links to videos go in #media.

## Spam
No spam: one message is enough. Repeated messages are deleted.
"""


def start_sandbox() -> tuple[subprocess.Popen[str], dict[str, str]]:
    child = subprocess.Popen(
        [str(Path(sys.executable).with_name("townsquare")), "sandbox", "--json", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"TOWNSQUARE__LOGGING__LEVEL": "warning"},
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    return child, json.loads(line)


async def measure(
    redis_url: str, database_url: str, info: dict[str, str]
) -> tuple[float, float, int]:
    root = info["rest_url"].rsplit("/api/", 1)[0]
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            info["control_url"] + "/gemini",
            json={"latency_seconds": 1.0, "embedding_latency_seconds": 0.1},
        ) as response,
    ):
        assert response.status == 200, await response.text()
    settings = load_settings(
        environ={
            "TOWNSQUARE__AI__ENABLED": "true",
            "TOWNSQUARE__AI__GEMINI_API_KEY": "bench",
            "TOWNSQUARE__AI__BASE_URL": root + "/gemini/",
            "TOWNSQUARE__AI__TIMEOUT_SECONDS": "10",
        },
        env_file=None,
    )
    keyspace = new_keyspace()
    redis = aioredis.Redis.from_url(redis_url, max_connections=CONCURRENCY + 10)
    section = AISection(
        enabled=True,
        channel_ids=[],
        role_ids=[],
        requests_per_member_per_hour=1000,
        requests_per_guild_per_minute=10_000,
        max_output_tokens=100,
        knowledge_channel_ids=[],
    )
    in_flight = peak = 0
    retrievals: collections.Counter[str] = collections.Counter()
    try:
        async with connect(database_url, pool_max=20):
            await ensure_guild(GUILD)
            await create_document(
                GUILD, DocumentInput("Rules", RULES), source="written", created_by=1
            )
            model = model_for(settings)
            assert model is not None
            await embed_pending(lambda texts: model.embed(texts, "RETRIEVAL_DOCUMENT"))
            await store_guild_tier(redis, keyspace, GUILD, "pro", free="free")
            gate = Gate(redis, keyspace, PremiumCatalogue(settings.premium))
            assistant = assistant_for(settings, redis, keyspace, gate)
            limit = asyncio.Semaphore(CONCURRENCY)

            async def ask(number: int) -> str:
                nonlocal in_flight, peak
                async with limit:
                    in_flight += 1
                    peak = max(peak, in_flight)
                    try:
                        asked = Asked(
                            GUILD, 1, 10_000 + number, (), "what are the rules about links?"
                        )
                        outcome = await assistant.answer(asked, section)
                        retrievals[outcome.retrieval] += 1
                        return outcome.kind
                    finally:
                        in_flight -= 1

            started = time.perf_counter()
            kinds = [await ask(n) for n in range(BASELINE_QUESTIONS)]
            baseline = BASELINE_QUESTIONS / (time.perf_counter() - started)
            started = time.perf_counter()
            kinds += await asyncio.gather(*(ask(BASELINE_QUESTIONS + n) for n in range(QUESTIONS)))
            ours = QUESTIONS / (time.perf_counter() - started)
            outcomes = collections.Counter(kinds)
            print(f"outcomes: {dict(outcomes)} (fallbacks: the deadline passed under load)")
            print(f"retrieval: {dict(retrievals)} (full_text:timeout: embedding past 3 s)")
            ours *= outcomes["answer"] / len(kinds)  # only answers count as done
    finally:
        await clear_keyspace(redis, keyspace)
        await redis.aclose()
    return ours, baseline, peak


async def run(redis_url: str, server_url: str, info: dict[str, str]) -> tuple[float, float, int]:
    async with fresh_database(server_url) as url:
        return await measure(redis_url, url, info)


def main() -> None:
    child, info = start_sandbox()
    try:
        with servers() as (redis_url, server_url):
            ours, baseline, peak = asyncio.run(run(redis_url, server_url, info))
    finally:
        child.terminate()
        child.wait(timeout=10)
    print(f"peak in flight: {peak} (target >= 200)")
    print(f"answered: {ours:.1f}/s (target >= 150/s); one at a time: {baseline:.2f}/s")
    # The runner's result line; ratio: how much the concurrency buys over one at a time.
    result = {"benchmark": "assistant_answers_per_second", "value": round(ours, 1)}
    result |= {"unit": "questions/s", "baseline": round(baseline, 2)}
    print(json.dumps(result | {"ratio": round(ours / baseline, 1) if baseline else None}))


if __name__ == "__main__":
    main()
