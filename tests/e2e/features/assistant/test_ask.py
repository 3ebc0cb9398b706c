"""End to end: `/ask` through the sandbox, the real hikari bot (shard: permission, rate
limits, deferral, the `ai` stream), a real worker (budget, retrieval in PostgreSQL, the
google-genai client against the sandbox's loopback Gemini) and Redis."""

from __future__ import annotations

import time
import typing

import pytest

from tests.support.assistant import RULES, WITHIN, answered
from tests.support.pipeline import enqueue
from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.sandbox import control
from tests.support.waiting import wait_until
from tests.support.world import channel_named, demo_guild, user_named
from tests.support.xp import wait_drained
from townsquare.core.events.wire import DATA_FIELD
from townsquare.features.assistant.domain.ask import DONT_KNOW
from townsquare.features.assistant.domain.jobs import ANSWER_TASK
from townsquare.features.assistant.domain.limits import utc_day

if typing.TYPE_CHECKING:
    from tests.support.assistant import AssistantHarness
    from tests.support.bot import BotRunning
    from tests.support.discord import Discord

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]


DEADLINE = 10
"""The worker's model deadline (seconds) in the fallback test."""


async def test_ask_cites_the_right_passage_and_pings_nobody(
    assistant: AssistantHarness, discord: Discord, bot_running: BotRunning
) -> None:
    await assistant.enable()
    everyone = "Links to videos go in #media. The rules on links bind @everyone."
    rules = await assistant.document("Server rules", RULES.replace(everyone[:29], everyone))
    await assistant.document("Events", "## Movie night\nMovie night is on Fridays at 8 pm.")
    async with bot_running(), assistant.worker():
        cited = await answered(
            discord, await discord.use("alder", "/ask", question="what are the rules about links?")
        )
        unknown = await answered(
            discord,
            await discord.use("alder", "/ask", question="capital of France?", only_me=True),
        )

    body, sources = cited.content.split("\n\n**Sources**\n")
    assert "Do not post invite links to other servers. [1]" in body
    assert "@everyone" in body  # quoted from the passage ...
    assert cited.message.allowed_mentions == {"parse": []}  # ... and pings nobody
    assert not cited.message.mention_everyone and not cited.ephemeral
    public_url = assistant.settings().http.public_url.rstrip("/")
    assert sources == (
        f"[1] Server rules — <{public_url}/knowledge/{assistant.guild_id}/{rules.id}>"
    )
    assert unknown.content == DONT_KNOW and unknown.ephemeral
    [request] = await assistant.model_requests("generateContent")  # not asked for "France"
    assert request["generationConfig"]["maxOutputTokens"] == 800
    assert "you don't know" in request["systemInstruction"]["parts"][0]["text"]
    assert "Movie night" not in request["contents"][-1]["parts"][0]["text"]


async def test_rate_limit_and_budget_refusals(
    assistant: AssistantHarness, discord: Discord, bot_running: BotRunning
) -> None:
    await assistant.enable(requests_per_member_per_hour=1)
    await assistant.document("Server rules", RULES)
    tokens = assistant.keyspace.key("ai_tokens", assistant.guild_id, utc_day())
    async with bot_running(), assistant.worker():
        await answered(discord, await discord.use("alder", "/ask", question="links?"))
        again = await discord.run("alder", "/ask", question="links again?")
        await assistant.redis.set(tokens, 20_000)  # the free tier's day, spent
        upgrade = await answered(discord, await discord.use("ada", "/ask", question="spam?"))

    assert again.ephemeral and not again.deferred
    assert again.content == (
        "You have asked 1 questions in the last hour, this server's limit per member. "
        "Try again in 60 minutes."
    )
    assert upgrade.ephemeral
    assert upgrade.content.startswith("This server has used its assistant tokens for today")
    assert "20,000 of 20,000 assistant tokens this day on Free; Plus allows 250,000." in (
        upgrade.content
    )
    [[button]] = [row["components"] for row in upgrade.components]
    assert button["style"] in {5, 6}  # the dashboard's premium page, or Discord's premium button
    assert int(await assistant.redis.get(tokens)) == 20_000  # nothing charged for a refusal


async def test_model_failures_get_the_fallback_within_the_deadline(
    assistant: AssistantHarness, discord: Discord, bot_running: BotRunning
) -> None:
    await assistant.enable()
    await assistant.document("Server rules", RULES)
    # The deadline is 10 s: a 429 or 500 must come back before it even on a loaded machine
    # (at 1 s and at 4 s, CI runs timed out first: the first question warms up the worker);
    # the 60 s model must be cut at it.
    async with bot_running(), assistant.worker(timeout_seconds=str(DEADLINE)):
        await assistant.gemini(faults=[{"kind": "429", "retry_delay_seconds": 47}])
        busy = await answered(discord, await discord.use("alder", "/ask", question="links?"))
        await assistant.gemini(faults=[{"kind": "500"}])
        broken = await answered(discord, await discord.use("alder", "/ask", question="links?"))
        await assistant.gemini(latency_seconds=60)
        started = time.monotonic()
        slow = await answered(discord, await discord.use("alder", "/ask", question="links?"))
        elapsed = time.monotonic() - started

    assert busy.content == (
        "The model is busy right now, so I could not answer. Please ask again in 47 seconds."
    )
    assert broken.content == "The model could not answer just now. Please ask again shortly."
    assert slow.content.startswith("The model took too long to answer")
    assert DEADLINE <= elapsed < 60 / 2  # cut at the deadline, long before the model answers


async def test_summarize_is_for_moderators_and_private(
    assistant: AssistantHarness, discord: Discord, bot_running: BotRunning
) -> None:
    await assistant.enable()
    for line in ("Who is up for movie night?", "Me! Friday works.", "Friday it is then."):
        body = {"channel_id": str(discord.channel_id), "author_id": str(discord.user("alder"))}
        await control(
            assistant.http, assistant.sandbox.info, "POST", "/messages", body | {"content": line}
        )
    async with bot_running(), assistant.worker():
        refused = await discord.run("alder", "/summarize")
        summary = await answered(discord, await discord.use("ada", "/summarize", count=10))

    assert refused.ephemeral and not refused.deferred
    assert refused.content.startswith("Only moderators (Manage Messages, Manage Server")
    assert summary.ephemeral
    assert summary.content.startswith("Summary of 3 messages: alder: Who is up for movie night?")


async def test_a_redelivered_question_is_answered_once(
    assistant: AssistantHarness, discord: Discord, bot_running: BotRunning
) -> None:
    await assistant.enable()
    await assistant.document("Server rules", RULES)
    stream = assistant.keyspace.key("stream", "ai")
    async with bot_running():
        interaction = await discord.use("alder", "/ask", question="rules about links?")
        await wait_until(
            lambda: _asks(assistant, stream), within=WITHIN, what="the question queued"
        )
        [job] = await _asks(assistant, stream)
        await assistant.redis.xadd(stream, {DATA_FIELD: job})  # delivered twice
        async with assistant.worker():
            answer = await answered(discord, interaction)
            await wait_drained(assistant.redis, assistant.keyspace, "ai", within=WITHIN)

    assert answer.content.startswith("Do not post invite links to other servers. [1]")
    assert len(await assistant.model_requests("generateContent")) == 1
    assert not answer.interaction.followup_message_ids
    # The overview's "Assistant questions" counts it once too (issue 19).
    counted = [
        await assistant.redis.hget(key, "assistant_questions")
        async for key in assistant.redis.scan_iter(
            match=assistant.keyspace.pattern("activity_counts")
        )
    ]
    assert counted == [b"1"]


async def _asks(assistant: AssistantHarness, stream: str) -> list[bytes]:
    """The `/ask` jobs in the `ai` stream (the shards' message batches left out)."""
    entries = await assistant.redis.xrange(stream)
    return [f[DATA_FIELD.encode()] for _, f in entries if ANSWER_TASK.encode() in f[b"data"]]


async def test_a_reply_that_cannot_be_posted_is_retried_without_asking_again(
    assistant: AssistantHarness,
) -> None:
    await assistant.enable()
    await assistant.document("Server rules", RULES)
    dead = assistant.keyspace.key("dead_letter", "ai")
    application = assistant.sandbox.world.application.id
    job = {"application_id": application, "token": "expired-token", "interaction_id": 4242}
    async with assistant.worker():
        await enqueue(
            assistant.redis,
            assistant.keyspace,
            "ai",
            ANSWER_TASK,
            guild_id=assistant.guild_id,
            channel_id=channel_named(demo_guild(assistant.sandbox), "general"),
            member_id=user_named(assistant.sandbox, "alder"),
            role_ids=[],
            question="rules about links?",
            private=False,
            interaction=job,
        )
        await wait_until(lambda: assistant.redis.xlen(dead), within=WITHIN, what="dead-lettered")

    tokens = assistant.keyspace.key("ai_tokens", assistant.guild_id, utc_day())
    [request] = await assistant.model_requests("generateContent")  # three attempts, one call
    assert request["contents"] and int(await assistant.redis.get(tokens)) > 0
