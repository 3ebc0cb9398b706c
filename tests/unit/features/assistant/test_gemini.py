"""The model wrapper's HTTP calls, checked at the HTTP layer (respx) against the shapes the
Gemini API documents: the request the SDK sends, and every failure becoming the fallback's
kind (429 with its RetryInfo delay, 5xx, a malformed body, the deadline)."""

from __future__ import annotations

import asyncio
import json
import typing

import httpx
import pytest
import respx

from townsquare.features.assistant.domain.gemini import Model, ModelUnavailable, Turn

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

BASE = "https://gemini.test/"
GENERATE = BASE + "v1beta/models/gemini-2.5-flash:generateContent"
COUNT = BASE + "v1beta/models/gemini-2.5-flash:countTokens"
ANSWER = {
    "candidates": [
        {
            "content": {"role": "model", "parts": [{"text": "Links go in #links [1]."}]},
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 9, "totalTokenCount": 129},
    "modelVersion": "gemini-2.5-flash",
}
TURNS = (Turn("user", "Passages:\n[1] Rules\nLinks go in #links.\n\nQuestion: links?"),)


@pytest.fixture
async def model() -> AsyncIterator[Model]:
    async with httpx.AsyncClient() as http:
        yield Model(api_key="test-key", model="gemini-2.5-flash", base_url=BASE, http=http)


def _error(code: int, status: str, details: list[dict[str, str]] | None = None) -> httpx.Response:
    error: dict[str, typing.Any] = {"code": code, "message": "failed", "status": status}
    if details:
        error["details"] = details
    return httpx.Response(code, json={"error": error})


@respx.mock
async def test_generate_sends_the_documented_request(model: Model) -> None:
    route = respx.post(GENERATE).mock(return_value=httpx.Response(200, json=ANSWER))
    generated = await model.generate("Be brief.", TURNS, max_output_tokens=300, deadline=5)
    request = route.calls.last.request
    assert request.headers["x-goog-api-key"] == "test-key"
    assert json.loads(request.content) == {
        "contents": [{"role": "user", "parts": [{"text": TURNS[0].text}]}],
        "systemInstruction": {"role": "user", "parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 300, "candidateCount": 1},
    }
    assert (generated.text, generated.total_tokens, generated.prompt_tokens) == (
        "Links go in #links [1].",
        129,
        120,
    )
    assert generated.finish_reason == "STOP"


@respx.mock
async def test_count_tokens_counts_the_system_instruction_as_a_turn(model: Model) -> None:
    route = respx.post(COUNT).mock(return_value=httpx.Response(200, json={"totalTokens": 321}))
    assert await model.count_tokens("Be brief.", TURNS) == 321
    body = json.loads(route.calls.last.request.content)
    assert [c["parts"][0]["text"] for c in body["contents"]] == ["Be brief.", TURNS[0].text]


@respx.mock
async def test_429_carries_the_retry_delay(model: Model) -> None:
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "47s"}
    respx.post(GENERATE).mock(return_value=_error(429, "RESOURCE_EXHAUSTED", [retry]))
    with pytest.raises(ModelUnavailable) as raised:
        await model.generate("s", TURNS, max_output_tokens=100, deadline=5)
    assert (raised.value.kind, raised.value.retry_after_seconds) == ("rate_limited", 47.0)


@respx.mock
@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (_error(500, "INTERNAL"), "server"),
        (_error(503, "UNAVAILABLE"), "server"),
        (httpx.Response(200, content=b'{"candidates": ['), "malformed"),
        (httpx.Response(200, json={"candidates": []}), "malformed"),
        (_error(400, "INVALID_ARGUMENT"), "refused"),
    ],
)
async def test_failures_become_one_kind_each(
    model: Model, response: httpx.Response, kind: str
) -> None:
    respx.post(GENERATE).mock(return_value=response)
    with pytest.raises(ModelUnavailable) as raised:
        await model.generate("s", TURNS, max_output_tokens=100, deadline=5)
    assert raised.value.kind == kind


@respx.mock
async def test_the_deadline_ends_a_slow_answer(model: Model) -> None:
    released = asyncio.Event()

    async def never(_: httpx.Request) -> httpx.Response:
        await released.wait()  # held until the test ends: the deadline must act alone
        return httpx.Response(200, json=ANSWER)

    respx.post(GENERATE).mock(side_effect=never)
    with pytest.raises(ModelUnavailable) as raised:
        await model.generate("s", TURNS, max_output_tokens=100, deadline=0.05)
    released.set()
    assert raised.value.kind == "timeout"


EMBED = BASE + "v1beta/models/gemini-embedding-001:batchEmbedContents"


@respx.mock
async def test_embed_sends_one_documented_batch_request(model: Model) -> None:
    values = [[0.5] * 768, [-0.25] * 768]
    route = respx.post(EMBED).mock(
        return_value=httpx.Response(200, json={"embeddings": [{"values": v} for v in values]})
    )
    embedded = await model.embed(["Links go in #links.", "No spam."], "RETRIEVAL_DOCUMENT")
    request = route.calls.last.request
    assert route.call_count == 1
    assert request.headers["x-goog-api-key"] == "test-key"
    assert json.loads(request.content) == {
        "requests": [
            {
                "content": {"parts": [{"text": text}]},
                "taskType": "RETRIEVAL_DOCUMENT",
                "outputDimensionality": 768,
                "model": "models/gemini-embedding-001",
            }
            for text in ("Links go in #links.", "No spam.")
        ]
    }
    assert embedded == values


@respx.mock
async def test_embeddings_of_the_wrong_shape_or_an_error_are_unavailable(model: Model) -> None:
    route = respx.post(EMBED)
    route.mock(return_value=httpx.Response(200, json={"embeddings": [{"values": [1.0] * 3072}]}))
    with pytest.raises(ModelUnavailable) as wrong_size:
        await model.embed(["a question"], "RETRIEVAL_QUERY")
    route.mock(return_value=httpx.Response(200, json={"embeddings": []}))
    with pytest.raises(ModelUnavailable) as missing:
        await model.embed(["a question"], "RETRIEVAL_QUERY")
    route.mock(return_value=_error(503, "UNAVAILABLE"))
    with pytest.raises(ModelUnavailable) as down:
        await model.embed(["a question"], "RETRIEVAL_QUERY")
    assert (wrong_size.value.kind, missing.value.kind, down.value.kind) == (
        "malformed",
        "malformed",
        "server",
    )
