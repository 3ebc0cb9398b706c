"""Embeddings and hybrid retrieval against real PostgreSQL, Redis and the sandbox's loopback
Gemini (gemini-embedding-001's calls through google-genai): a question phrased with none of a
passage's words found by vector, batches of 100 resumed after a failure and after SIGKILL,
the fallback to full text (recorded), re-embedding after an edit, guild isolation, and the
demo guild's seeding."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import typing

import pytest
from tortoise import connections

from tests.support.assistant import RULES
from tests.support.waiting import wait_until
from townsquare.core.features import DemoContext
from townsquare.core.guilds.service import ensure_guild
from townsquare.features.assistant.domain.ask import DONT_KNOW, Asked
from townsquare.features.assistant.domain.demo import DEMO_DOCUMENTS, seed_demo
from townsquare.features.assistant.domain.embeddings import (
    BATCH_SIZE,
    embed_pending,
    pending_passages,
)
from townsquare.features.assistant.domain.gemini import ModelUnavailable
from townsquare.features.assistant.domain.hybrid import retrieve
from townsquare.features.assistant.domain.knowledge import DocumentInput, update_document
from townsquare.features.assistant.domain.models import KnowledgeChunk, KnowledgeDocument
from townsquare.features.assistant.domain.retrieval import search_passages
from townsquare.features.assistant.domain.service import model_for
from townsquare.features.assistant.domain.vectors import guild_vectors

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    from tests.support.assistant import AssistantHarness

pytestmark = pytest.mark.integration

SYNONYMS = "Can I share a URL?"
"""Asks about the Links rule with none of its words ("post", "links")."""
OTHER_GUILD = 4343


def asked(harness: AssistantHarness, question: str) -> Asked:
    return Asked(harness.guild_id, None, 77, None, question, charged=True)


async def embed_all(harness: AssistantHarness) -> int:
    model = model_for(harness.settings())
    assert model is not None

    async def embed(texts: Sequence[str]) -> list[list[float]]:
        assert model is not None
        return await model.embed(texts, "RETRIEVAL_DOCUMENT")

    return await embed_pending(embed)


def many_sections(count: int) -> str:
    return "\n\n".join(f"## Topic {n}\nTopic {n} is about item{n}." for n in range(count))


async def test_a_question_with_none_of_the_passages_words_is_found_by_vector(
    assistant: AssistantHarness,
) -> None:
    await assistant.enable()
    await assistant.document("Server rules", RULES)
    service, section = assistant.service(), await assistant.section()
    assert await search_passages(assistant.guild_id, SYNONYMS, documents_limit=None) == []
    before = await service.answer(asked(assistant, SYNONYMS), section)
    assert await embed_all(assistant) > 0
    after = await service.answer(asked(assistant, SYNONYMS), section)

    assert (before.kind, before.text, before.retrieval) == ("unknown", DONT_KNOW, "hybrid")
    assert after.kind == "answer" and after.retrieval == "hybrid"
    assert after.text.startswith("Do not post invite links to other servers. [1]")
    assert [source.title for source in after.sources][:1] == ["Server rules"]
    # The question's embedding went through batchEmbedContents as a RETRIEVAL_QUERY.
    [*queries] = [
        body
        for body in await assistant.model_requests("batchEmbedContents")
        if body["requests"][0]["taskType"] == "RETRIEVAL_QUERY"
    ]
    assert queries[-1]["requests"][0]["content"]["parts"][0]["text"] == SYNONYMS
    assert queries[-1]["requests"][0]["outputDimensionality"] == 768


async def test_unrelated_questions_still_find_nothing(assistant: AssistantHarness) -> None:
    await assistant.enable()
    await assistant.document("Server rules", RULES)
    await embed_all(assistant)
    outcome = await assistant.service().answer(
        asked(assistant, "What is the capital of France?"), await assistant.section()
    )
    assert (outcome.kind, outcome.text, outcome.retrieval) == ("unknown", DONT_KNOW, "hybrid")


async def test_passages_are_embedded_in_batches_of_100_and_a_failure_resumes(
    assistant: AssistantHarness,
) -> None:
    await assistant.document("Topics", many_sections(250))
    assert await pending_passages() == 250
    model = model_for(assistant.settings())
    assert model is not None
    calls = 0

    async def fails_second(texts: Sequence[str]) -> list[list[float]]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("the model went away")
        assert model is not None
        return await model.embed(texts, "RETRIEVAL_DOCUMENT")

    with pytest.raises(ConnectionError):
        await embed_pending(fails_second)
    assert await pending_passages() == 150  # the first batch kept, the second rolled back
    await assistant.gemini(clear_requests=True)
    assert await embed_all(assistant) == 150
    batches = await assistant.model_requests("batchEmbedContents")
    assert [len(body["requests"]) for body in batches] == [BATCH_SIZE, 50]
    assert await pending_passages() == 0
    assert await embed_all(assistant) == 0


async def test_a_worker_killed_mid_batch_leaves_its_passages_to_the_next_run(
    assistant: AssistantHarness, database_url: str
) -> None:
    await assistant.document("Topics", many_sections(150))
    child = """
import asyncio, sys
from townsquare.core.db import connect
from townsquare.features.assistant.domain.embeddings import embed_pending

async def main():
    async with connect(sys.argv[1], pool_max=1):
        async def stuck(texts):
            print(len(texts), flush=True)
            await asyncio.Event().wait()
        await embed_pending(stuck)

asyncio.run(main())
"""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", child, database_url, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    assert await asyncio.wait_for(process.stdout.readline(), 30) == b"100\n"  # rows locked
    assert await embed_all(assistant) == 50  # the locked batch is skipped, not waited for
    os.kill(process.pid, signal.SIGKILL)
    await process.wait()

    async def all_embedded() -> bool:
        await embed_all(assistant)
        return await pending_passages() == 0

    await wait_until(all_embedded, within=15, what="the killed batch embedded by the next run")
    [row] = await connections.get("default").execute_query_dict(
        "SELECT count(*) AS n FROM knowledge_chunks WHERE embedding IS NOT NULL"
    )
    assert row["n"] == 150


async def test_an_embedding_failure_or_delay_falls_back_to_full_text_recorded(
    assistant: AssistantHarness,
) -> None:
    await assistant.enable()
    await assistant.document("Server rules", RULES)
    await embed_all(assistant)
    section = await assistant.section()
    await assistant.gemini(faults=[{"kind": "500", "method": "batchEmbedContents"}])
    failed = await assistant.service().answer(asked(assistant, "rules about links?"), section)
    await assistant.gemini(embedding_latency_seconds=30)
    slow_service = assistant.service(embedding_timeout_seconds="0.3")
    slow = await slow_service.answer(asked(assistant, "rules about links?"), section)
    synonyms = await slow_service.answer(asked(assistant, SYNONYMS), section)

    assert (failed.kind, failed.retrieval) == ("answer", "full_text:server")
    assert (slow.kind, slow.retrieval) == ("answer", "full_text:timeout")
    assert failed.text.startswith("Do not post invite links to other servers. [1]")
    assert (synonyms.kind, synonyms.retrieval) == ("unknown", "full_text:timeout")


async def test_an_edited_document_is_re_embedded_and_the_cache_follows(
    assistant: AssistantHarness,
) -> None:
    await assistant.enable()
    document = await assistant.document("Events", "## Nights\nFilm night is on Fridays.")
    await embed_all(assistant)
    question = "When is the cinema evening?"  # "cinema" and "film" mean "movie" to the loopback
    first = await retrieve(
        assistant.guild_id,
        question,
        documents_limit=None,
        embed_question=_query_embedder(assistant),
        bound_seconds=5,
    )
    await update_document(
        assistant.guild_id,
        document.id,
        DocumentInput("Events", "## Nights\nGame night is on Saturdays."),
    )
    assert await pending_passages() == 1  # the rebuilt passage waits for its embedding
    await embed_all(assistant)
    second = await retrieve(
        assistant.guild_id,
        question,
        documents_limit=None,
        embed_question=_query_embedder(assistant),
        bound_seconds=5,
    )
    assert [p.text for p in first.passages] == ["Film night is on Fridays."]
    assert second.passages == []  # the old vector is gone with its passage


async def test_vectors_never_cross_guilds(assistant: AssistantHarness) -> None:
    await ensure_guild(OTHER_GUILD)
    await assistant.document("Their rules", RULES, OTHER_GUILD)
    await assistant.document("Events", "## Nights\nFilm night is on Fridays.")
    await embed_all(assistant)
    found = await retrieve(
        assistant.guild_id,
        SYNONYMS,
        documents_limit=None,
        embed_question=_query_embedder(assistant),
        bound_seconds=5,
    )
    theirs = await retrieve(
        OTHER_GUILD,
        SYNONYMS,
        documents_limit=None,
        embed_question=_query_embedder(assistant),
        bound_seconds=5,
    )
    assert found.passages == [] and found.mode == "hybrid"
    assert {p.title for p in theirs.passages} == {"Their rules"}


async def test_the_demo_guild_is_seeded_once_and_left_as_its_managers_leave_it(
    assistant: AssistantHarness,
) -> None:
    settings = assistant.settings()
    context = DemoContext(settings, assistant.redis, assistant.keyspace, assistant.guild_id)
    line = await seed_demo(context)
    assert line is not None and "rules and FAQ" in line
    assert (await assistant.section()).enabled
    titles = await KnowledgeDocument.filter(guild_id=assistant.guild_id).values_list(
        "title", flat=True
    )
    assert sorted(titles) == sorted(title for title, _ in DEMO_DOCUMENTS)
    await assistant.enable(enabled=False)  # a manager turns it off
    assert await seed_demo(context) is None  # every later `townsquare up`: nothing changes
    assert not (await assistant.section()).enabled
    assert await KnowledgeDocument.filter(guild_id=assistant.guild_id).count() == 2
    assert await KnowledgeChunk.filter(guild_id=assistant.guild_id).count() > 0
    stream = await assistant.redis.xrange(assistant.keyspace.key("stream", "ai"))
    assert len(stream) == 1  # one embedding job queued, by the seeding run


def _query_embedder(harness: AssistantHarness) -> typing.Any:
    model = model_for(harness.settings())
    assert model is not None

    async def embed(question: str) -> list[float]:
        assert model is not None
        [vector] = await model.embed([question], "RETRIEVAL_QUERY")
        return vector

    return embed


async def test_documents_past_the_tiers_limit_are_not_found_by_vector_either(
    assistant: AssistantHarness,
) -> None:
    await assistant.document("Events", "## Nights\nFilm night is on Fridays.")
    await assistant.document("Server rules", RULES)  # the newer one: past a limit of 1
    await embed_all(assistant)
    limited, unlimited = [
        await retrieve(
            assistant.guild_id,
            SYNONYMS,
            documents_limit=limit,
            embed_question=_query_embedder(assistant),
            bound_seconds=5,
        )
        for limit in (1, None)
    ]
    assert limited.passages == []
    assert {p.title for p in unlimited.passages} == {"Server rules"}


async def test_a_passage_the_model_refuses_is_skipped_not_retried_forever(
    assistant: AssistantHarness,
) -> None:
    await assistant.document("Topics", many_sections(5))
    sent: list[int] = []

    async def refuses_item3(texts: Sequence[str]) -> list[list[float]]:
        sent.append(len(texts))
        if any("item3." in text for text in texts):
            raise ModelUnavailable("refused", "HTTP 400 INVALID_ARGUMENT")
        return [[1.0] + [0.0] * 767 for _ in texts]

    assert await embed_pending(refuses_item3) == 5
    assert sent == [5, 1, 1, 1, 1, 1]  # the batch, then each passage alone
    assert await pending_passages() == 0
    assert await embed_pending(refuses_item3) == 0  # never sent again
    vectors = await guild_vectors(assistant.guild_id)
    assert len(vectors) == 4  # the refused one is searched by full text only
