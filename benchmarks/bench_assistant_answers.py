"""Questions answered per second by one worker process, the model answering after 1 s.

Processes: the sandbox in a child (its Discord, with the REST rate limits lifted, and its
loopback Gemini answering every `generateContent` after 1 s and every embedding after 0.1 s:
gemini-embedding-001 is a much smaller model than the one answering), and one real worker in
another child (`run_worker` for the `ai` pipeline, the platform's tasks, PostgreSQL
connected, `tasks.ai.max_concurrent_tasks` at its default, configured as a deployment is: a
bot token for that Discord and an API key for that Gemini). This process sets the guild up
(the assistant on, a rules document embedded, the `pro` tier), makes QUESTIONS messages in the
sandbox's #general that mention the bot and ask about the rules, and queues them on the `ai`
stream as `assistant.messages` jobs of BATCH records, the way a shard publishes a channel's
messages. The worker runs each through the whole path a mention takes: the job's decoding, the
guild's configuration, the question counted on the overview, once-only marking, permission,
rate limits, budget, hybrid retrieval (the question's embedding through batchEmbedContents,
full text and the in-process vectors, fused), generateContent through google-genai, the
token reconciliation, the reply posted to the sandbox through hikari's REST client, and the
conversation stored for reply-to-continue.

Reported: questions answered per second (from the first XADD to the stream drained; only
answers count, not fallbacks), the most questions in flight in the worker (its delivered and
unacknowledged jobs, sampled, times BATCH) and at the model (the most `generateContent` calls
the loopback was answering at once), and the worker's CPU time per question
(`/proc/<pid>/stat`: user and system time over the run, divided by the questions), which
unlike the rate does not depend on what else the machine runs. Targets (issue 16): at least
200 in flight, at least 150 per second. Baseline, same run and worker: questions one at a
time. `BENCH_QUESTIONS` changes the count; `BENCH_PROFILE=<path>` writes a cProfile (CPU time)
of the worker's run, `BENCH_PY_SPY=<path>` py-spy's samples of it (collapsed stacks).
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

import aiohttp
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from benchmarks._support import (
    clear_keyspace,
    configure_guild,
    new_keyspace,
    queue_and_drain,
    servers,
    wait_for,
)
from benchmarks._support_processes import (
    cpu_seconds,
    sandbox_and_database,
    worker_child,
)
from townsquare.core.events import MessageRecord, encode_job
from townsquare.core.logs import configure_logging
from townsquare.core.premium import store_guild_tier
from townsquare.core.settings import load_settings
from townsquare.features.assistant.domain.ask import OUTCOME_JSON
from townsquare.features.assistant.domain.embeddings import embed_pending
from townsquare.features.assistant.domain.jobs import AI_PIPELINE, MESSAGES_TASK
from townsquare.features.assistant.domain.knowledge import DocumentInput, create_document
from townsquare.features.assistant.domain.service import model_for
from townsquare.tasks.brokers import CONSUMER_GROUP
from townsquare.tasks.idempotency import done_key

if typing.TYPE_CHECKING:
    from benchmarks._support import Chat
    from townsquare.core.keyspace import Keyspace

QUESTIONS = int(os.environ.get("BENCH_QUESTIONS", "1500"))
BATCH = 3
"""Records per job: what a shard's 20 ms batches hold at 150 messages a second."""
BASELINE_QUESTIONS = 5
MEMBERS = 200
WAIT = 300.0
TARGET_IN_FLIGHT = 200
TARGET_PER_SECOND = 150.0
QUESTION = "<@{bot}> what are the rules about links? ({{number}})"
RULES = """## Links
Do not post invite links to other servers. Links to videos go in #media.

## Spam
No spam: one message is enough. Repeated messages are deleted.
"""


class Result(typing.NamedTuple):
    per_second: float
    baseline: float
    peak: int
    taken: int
    cpu_ms: float
    sandbox_cpu_ms: float
    outcomes: dict[str, int]


def _records(chats: list[Chat], guild: int, channel: int, text: str) -> list[MessageRecord]:
    return [
        MessageRecord(
            guild_id=guild,
            channel_id=channel,
            author_id=chat.author,
            message_id=chat.id,
            timestamp_ms=chat.ts,
            role_ids=(),
            length=len(text),
            mention_count=1,
            link_count=0,
            content=text.format(number=number),
        )
        for number, chat in enumerate(chats)
    ]


def _jobs(records: list[MessageRecord], batch: int = BATCH) -> list[bytes]:
    return [
        encode_job(MESSAGES_TASK, [r.model_dump(mode="json") for r in records[i : i + batch]])
        for i in range(0, len(records), batch)
    ]


async def _outcomes(redis: aioredis.Redis, keyspace: Keyspace, ids: list[int]) -> dict[str, int]:
    kept = await redis.mget([keyspace.key("ai_outcome", i) for i in ids])
    kinds = collections.Counter(
        OUTCOME_JSON.validate_json(raw).kind if raw is not None else "none" for raw in kept
    )
    return dict(kinds)


async def _peak_taken(redis: aioredis.Redis, stream: str) -> int:
    """Until cancelled: the most questions the worker had taken and not finished at once (its
    delivered, unacknowledged jobs, BATCH questions each), sampled every 20 ms."""
    peak = 0
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            summary = await redis.xpending(stream, CONSUMER_GROUP)
            peak = max(peak, int(summary["pending"]) * BATCH)
            await asyncio.sleep(0.02)
    return peak


async def _gemini(
    http: aiohttp.ClientSession, control_url: str, **body: object
) -> dict[str, typing.Any]:
    async with http.post(control_url + "/gemini", json=body) as response:
        assert response.status == 200, await response.text()
        return typing.cast("dict[str, typing.Any]", await response.json())


async def _set_up(
    settings: typing.Any, redis: aioredis.Redis, keyspace: Keyspace, guild: int
) -> None:
    await configure_guild(
        guild,
        ai={
            "enabled": True,
            "requests_per_member_per_hour": 1000,
            "requests_per_guild_per_minute": 10_000,
            "max_output_tokens": 100,
        },
    )
    await create_document(guild, DocumentInput("Rules", RULES), source="written", created_by=1)
    model = model_for(settings)
    assert model is not None
    await embed_pending(lambda texts: model.embed(texts, "RETRIEVAL_DOCUMENT"))
    await store_guild_tier(redis, keyspace, guild, "pro", free="free")


async def _py_spy(pid: int) -> asyncio.subprocess.Process | None:
    """With `BENCH_PY_SPY=<path>`: py-spy sampling the worker (collapsed stacks) until
    interrupted; py-spy must be installed (it is not a dependency)."""
    path = os.environ.get("BENCH_PY_SPY")
    if not path:
        return None
    spy = Path(sys.executable).with_name("py-spy")
    return await asyncio.create_subprocess_exec(
        str(spy), "record", "--nonblocking", "-r", "250", "-f", "raw", "-o", path, "-p", str(pid)
    )


def _deployed(info: dict[str, typing.Any], var_dir: Path) -> dict[str, str]:
    """The worker's settings as a deployment's: a bot token and REST URL (the sandbox's), a
    Gemini API key and base URL (the loopback's), so nothing is read from the sandbox's file
    per question (as without a token or key); the secrets a token requires, made up."""
    root = str(info["rest_url"]).rsplit("/api/", 1)[0]
    return {
        "TOWNSQUARE__PATHS__VAR_DIR": str(var_dir),
        "TOWNSQUARE__DISCORD__BOT_TOKEN": str(info["bot_token"]),
        "TOWNSQUARE__DISCORD__REST_URL": str(info["rest_url"]),
        "TOWNSQUARE__DISCORD__APPLICATION_ID": str(info["application_id"]),
        "TOWNSQUARE__DISCORD__OAUTH_CLIENT_SECRET": "bench-" + "x" * 32,
        "TOWNSQUARE__HTTP__JWT_SIGNING_KEY": "bench-" + "y" * 32,
        "TOWNSQUARE__HTTP__SERVICE_TOKEN": "bench-" + "z" * 32,
        "TOWNSQUARE__AI__ENABLED": "true",
        "TOWNSQUARE__AI__GEMINI_API_KEY": "bench",
        "TOWNSQUARE__AI__BASE_URL": root + "/gemini/",
    }


async def measure(redis_url: str, server_url: str) -> Result:
    keyspace = new_keyspace()
    redis = aioredis.Redis.from_url(redis_url)
    stream = keyspace.key("stream", AI_PIPELINE)
    try:
        async with contextlib.AsyncExitStack() as stack:
            sandbox, database_url, var_dir = await stack.enter_async_context(
                sandbox_and_database(server_url, members=MEMBERS)
            )
            info = sandbox.info
            environ = _deployed(info, var_dir)
            settings = load_settings(environ=environ, env_file=None)
            http = await stack.enter_async_context(aiohttp.ClientSession())
            control = str(info["control_url"])
            await _gemini(http, control, latency_seconds=1.0, embedding_latency_seconds=0.1)
            guild, channel = int(info["guild_id"]), int(info["channel_id"])
            await _set_up(settings, redis, keyspace, guild)
            worker = await stack.enter_async_context(
                worker_child(
                    redis_url,
                    keyspace,
                    database_url,
                    (AI_PIPELINE,),
                    environ,
                    os.environ.get("BENCH_PROFILE"),
                )
            )

            async def consuming() -> bool:
                try:
                    return bool(await redis.xinfo_groups(stream))
                except ResponseError:  # no stream yet
                    return False

            await wait_for(consuming, within=60, what="the worker consuming the ai stream")
            text = QUESTION.format(bot=info["bot_id"])

            # One at a time (also the warm-up: the guild's vectors and configuration loaded).
            chats, _, _ = await sandbox.chat(BASELINE_QUESTIONS, seed=1, text=text)
            started = time.perf_counter()
            for job in _jobs(_records(chats, guild, channel, text), batch=1):
                await queue_and_drain(redis, stream, [job])
            baseline = BASELINE_QUESTIONS / (time.perf_counter() - started)

            chats, _, _ = await sandbox.chat(QUESTIONS, seed=2, text=text)
            jobs = _jobs(_records(chats, guild, channel, text))
            await _gemini(http, control, clear_requests=True)
            profiling = bool(os.environ.get("BENCH_PROFILE"))
            if profiling:
                worker.send_signal(signal.SIGUSR1)
            spying = await _py_spy(worker.pid)
            cpu_before = cpu_seconds(worker.pid)
            sandbox_before = cpu_seconds(sandbox.process.pid)
            sampling = asyncio.create_task(_peak_taken(redis, stream))
            try:
                elapsed = await asyncio.wait_for(queue_and_drain(redis, stream, jobs), WAIT)
            finally:
                sampling.cancel()
            taken = await sampling
            cpu = cpu_seconds(worker.pid) - cpu_before
            sandbox_cpu = cpu_seconds(sandbox.process.pid) - sandbox_before
            if profiling:
                worker.send_signal(signal.SIGUSR2)
            if spying is not None:
                spying.send_signal(signal.SIGINT)
                await spying.wait()
            peak = int((await _gemini(http, control))["peak_in_flight"])
            outcomes = await _outcomes(redis, keyspace, [c.id for c in chats])
            if await redis.exists(keyspace.key("dead_letter", AI_PIPELINE)):
                raise SystemExit("a job was dead-lettered")
            posted = await redis.mget([done_key(keyspace, "ai_mention", str(c.id)) for c in chats])
            if any(marker is None for marker in posted):
                raise SystemExit("a question was not marked done")
    finally:
        await clear_keyspace(redis, keyspace)
        await redis.aclose()
    answered = outcomes.get("answer", 0)
    per_question = 1000 / QUESTIONS
    return Result(
        answered / elapsed,
        baseline,
        peak,
        taken,
        cpu * per_question,
        sandbox_cpu * per_question,
        outcomes,
    )


def main() -> None:
    configure_logging(level="warning")
    with servers() as (redis_url, server_url):
        result = asyncio.run(measure(redis_url, server_url))
    print(f"outcomes: {result.outcomes} (fallbacks: the deadline passed under load)")
    print(
        f"questions in flight: at most {result.taken} in the worker (taken, not done; target "
        f">= {TARGET_IN_FLIGHT}), at most {result.peak} at the model at once"
    )
    print(
        f"CPU per question: worker {result.cpu_ms:.2f} ms, sandbox (Discord and Gemini) "
        f"{result.sandbox_cpu_ms:.2f} ms"
    )
    print(
        f"answered: {result.per_second:.1f}/s (target >= {TARGET_PER_SECOND:.0f}/s); "
        f"one at a time: {result.baseline:.2f}/s"
    )
    # The runner's result line; ratio: how much the concurrency buys over one at a time.
    line = {"benchmark": "assistant_answers_per_second", "value": round(result.per_second, 1)}
    line |= {"unit": "questions/s", "baseline": round(result.baseline, 2)}
    ratio = round(result.per_second / result.baseline, 1) if result.baseline else None
    print(json.dumps(line | {"ratio": ratio, "cpu_ms_per_question": round(result.cpu_ms, 2)}))


if __name__ == "__main__":
    main()
