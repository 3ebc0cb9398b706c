"""The sandbox's loopback Gemini, called through google-genai itself (the SDK the assistant
uses): the endpoints and API version the SDK calls, the documented response shapes, the API
key, and the faults its control API queues."""

from __future__ import annotations

import asyncio
import math
import typing

import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.support.sandbox import control
from townsquare.features.assistant.domain.gemini import API_VERSION

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import aiohttp

    from townsquare.sandbox import SandboxInfo

MODEL = "gemini-embedding-001"


@pytest.fixture
async def client(info: SandboxInfo) -> AsyncIterator[genai.Client]:
    root = info.rest_url.rsplit("/api/", 1)[0]
    async with httpx.AsyncClient() as http:
        options = types.HttpOptions(
            base_url=root + "/gemini/", api_version=API_VERSION, httpx_async_client=http
        )
        yield genai.Client(api_key="any", http_options=options)


async def test_embeddings_come_in_batches_with_the_asked_dimensions(
    client: genai.Client, http: aiohttp.ClientSession, info: SandboxInfo
) -> None:
    embedded = await client.aio.models.embed_content(
        model=MODEL,
        contents=["rules about links", "invite links rules", "level roles"],
        config=types.EmbedContentConfig(output_dimensionality=768),
    )
    vectors = [e.values or [] for e in embedded.embeddings or []]
    assert [len(v) for v in vectors] == [768, 768, 768]
    assert all(math.isclose(sum(x * x for x in v), 1.0) for v in vectors)
    state = await control(http, info, "GET", "/gemini")
    assert [r["method"] for r in state["requests"]] == ["batchEmbedContents"]


async def test_answers_count_and_faults_as_documented(
    client: genai.Client, http: aiohttp.ClientSession, info: SandboxInfo
) -> None:
    prompt = "Passages:\n[1] Rules\nNo spam here.\n\nQuestion: spam?"
    answer = await client.aio.models.generate_content(model="gemini-2.5-flash", contents=prompt)
    assert answer.text == "No spam here. [1]"
    assert answer.usage_metadata is not None and answer.usage_metadata.total_token_count
    counted = await client.aio.models.count_tokens(model="gemini-2.5-flash", contents=prompt)
    assert counted.total_tokens == math.ceil(len(prompt) / 4)
    await control(
        http, info, "POST", "/gemini", {"faults": [{"kind": "429", "retry_delay_seconds": 9}]}
    )
    with pytest.raises(errors.ClientError) as busy:
        await client.aio.models.generate_content(model="gemini-2.5-flash", contents=prompt)
    assert (busy.value.code, busy.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert busy.value.details["error"]["details"][0]["retryDelay"] == "9s"
    await control(http, info, "POST", "/gemini", {"faults": [{"kind": "bogus"}]}, status=400)


async def test_a_fault_can_hit_the_embeddings_and_leave_the_answers(
    client: genai.Client, http: aiohttp.ClientSession, info: SandboxInfo
) -> None:
    body = {"faults": [{"kind": "500", "method": "batchEmbedContents"}]}
    state = await control(http, info, "POST", "/gemini", body | {"embedding_latency_seconds": 0})
    assert state["embedding_latency_seconds"] == 0
    answer = await client.aio.models.generate_content(
        model="gemini-2.5-flash", contents="Passages:\n[1] Rules\nNo spam here.\n\nQuestion: spam?"
    )
    assert answer.text == "No spam here. [1]"  # the fault waits for its call
    with pytest.raises(errors.ServerError):
        await client.aio.models.embed_content(model=MODEL, contents=["links"])
    embedded = await client.aio.models.embed_content(model=MODEL, contents=["links"])
    assert embedded.embeddings is not None and len(embedded.embeddings) == 1
    bogus = {"faults": [{"kind": "500", "method": "listModels"}]}
    await control(http, info, "POST", "/gemini", bogus, status=400)


async def test_answers_being_given_are_counted_and_their_peak_kept(
    client: genai.Client, http: aiohttp.ClientSession, info: SandboxInfo
) -> None:
    await control(http, info, "POST", "/gemini", {"latency_seconds": 1.0, "clear_requests": True})
    prompt = "Passages:\n[1] Rules\nNo spam here.\n\nQuestion: spam?"
    calls = [
        client.aio.models.generate_content(model="gemini-2.5-flash", contents=prompt)
        for _ in range(3)
    ]
    await asyncio.gather(*calls, client.aio.models.embed_content(model=MODEL, contents=["x"]))
    state = await control(http, info, "GET", "/gemini")
    assert (state["in_flight"], state["peak_in_flight"]) == (0, 3)  # embeddings not counted
    state = await control(http, info, "POST", "/gemini", {"clear_requests": True})
    assert state["peak_in_flight"] == 0
