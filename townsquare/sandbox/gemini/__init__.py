"""The loopback Gemini: the REST endpoints google-genai calls, served by the sandbox.

`POST /gemini/{version}/models/{model}:generateContent`, `:countTokens`, `:embedContent` and
`:batchEmbedContents`, with the bodies the Gemini API documents (`candidates[].content.parts`,
`finishReason`, `usageMetadata`; `totalTokens`; `embedding.values`). An API key is required
(`x-goog-api-key`, any value), as Gemini requires one. The answers are deterministic
(:mod:`.model`).

Its control API (`/_sandbox/gemini`) injects faults: latency (seconds) on every answer (or on
embeddings alone, `embedding_latency_seconds`), or the next N answers as 429
(`RESOURCE_EXHAUSTED` with `RetryInfo.retryDelay`), 500 or a malformed body (a fault with
`"method": "batchEmbedContents"` hits that call instead of the model's answers); `GET` shows
the settings, the requests received, and how many `generateContent` calls are being answered
now (`in_flight`) and at most at once since the requests were last cleared (`peak_in_flight`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import typing

from aiohttp import web

from townsquare.sandbox.control.common import ControlError, read_json
from townsquare.sandbox.gemini.model import answer_from_prompt, count_text_tokens, embed_text
from townsquare.sandbox.rest.errors import json_response

__all__ = ["GEMINI_PREFIX", "Fault", "LoopbackGemini"]

GEMINI_PREFIX: typing.Final = "/gemini"
"""The loopback's base URL is the sandbox's root plus this (the SDK's `base_url`)."""
_DEFAULT_DIMENSIONS: typing.Final = 768
_MAX_REQUESTS_KEPT: typing.Final = 1000
_FAULTS: typing.Final = frozenset({"429", "500", "malformed"})
_ANSWERING: typing.Final = frozenset({"generateContent", "countTokens"})
_EMBEDDING: typing.Final = frozenset({"embedContent", "batchEmbedContents"})


@dataclasses.dataclass(slots=True)
class Fault:
    kind: str
    retry_delay_seconds: int = 30
    method: str | None = None
    """The call it hits: None for the model's answers (`generateContent`, `countTokens`)."""

    def hits(self, method: str) -> bool:
        return method == self.method if self.method else method in _ANSWERING


def _error(
    code: int, status: str, message: str, details: list[typing.Any] | None = None
) -> web.Response:
    body: dict[str, typing.Any] = {"code": code, "message": message, "status": status}
    if details:
        body["details"] = details
    return json_response({"error": body}, code)


def _texts(content: object) -> list[str]:
    parts = content.get("parts") if isinstance(content, dict) else None
    return [str(p.get("text", "")) for p in parts or [] if isinstance(p, dict)]


class LoopbackGemini:
    def __init__(self) -> None:
        self.latency_seconds = 0.0
        self.embedding_latency_seconds: float | None = None
        """When set, embeddings wait this long instead of `latency_seconds`."""
        self._released = asyncio.Event()
        self.faults: collections.deque[Fault] = collections.deque()
        self.requests: collections.deque[dict[str, typing.Any]] = collections.deque(
            maxlen=_MAX_REQUESTS_KEPT
        )
        self.in_flight = 0
        """`generateContent` calls received and not answered yet."""
        self.peak_in_flight = 0

    def release(self) -> None:
        """Answer every request held by the latency now (the sandbox is stopping)."""
        self._released.set()

    def routes(self, control_prefix: str) -> list[web.RouteDef]:
        return [
            web.post(GEMINI_PREFIX + "/{version}/models/{call}", self.call),
            web.get(control_prefix + "/gemini", self.state),
            web.post(control_prefix + "/gemini", self.configure),
        ]

    async def call(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["call"].partition(":")
        if not request.headers.get("x-goog-api-key"):
            return _error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if not isinstance(body, dict):
            return _error(400, "INVALID_ARGUMENT", "The request body must be a JSON object.")
        self.requests.append({"model": model, "method": method, "body": body})
        if method != "generateContent":
            return await self._respond(model, method, body)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self._respond(model, method, body)
        finally:
            self.in_flight -= 1

    async def _respond(
        self, model: str, method: str, body: dict[str, typing.Any]
    ) -> web.StreamResponse:
        latency = self.latency_seconds
        if method in _EMBEDDING and self.embedding_latency_seconds is not None:
            latency = self.embedding_latency_seconds
        if latency > 0:
            # The model "thinks" this long, or until the sandbox stops (no answer is held up
            # past the end of a test).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), latency)
        fault = next((f for f in self.faults if f.hits(method)), None)
        if fault is not None:
            self.faults.remove(fault)
            return self._fault(fault)
        return self._answer(model, method, body)

    def _answer(self, model: str, method: str, body: dict[str, typing.Any]) -> web.Response:
        match method:
            case "generateContent":
                return self._generate(body)
            case "countTokens":
                texts = [t for c in body.get("contents") or [] for t in _texts(c)]
                return json_response({"totalTokens": count_text_tokens(texts)})
            case "embedContent":
                size = int(body.get("outputDimensionality") or _DEFAULT_DIMENSIONS)
                text = " ".join(_texts(body.get("content")))
                return json_response({"embedding": {"values": embed_text(text, size)}})
            case "batchEmbedContents":
                embeddings = []
                for item in body.get("requests") or []:
                    size = int(item.get("outputDimensionality") or _DEFAULT_DIMENSIONS)
                    text = " ".join(_texts(item.get("content")))
                    embeddings.append({"values": embed_text(text, size)})
                return json_response({"embeddings": embeddings})
        return _error(404, "NOT_FOUND", f"Method {method!r} is not found for model {model!r}.")

    def _fault(self, fault: Fault) -> web.Response:
        if fault.kind == "429":
            retry = {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": f"{fault.retry_delay_seconds}s",
            }
            return _error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted.", [retry])
        if fault.kind == "500":
            return _error(500, "INTERNAL", "An internal error has occurred.")
        return web.Response(body=b'{"candidates": [{"content": ', content_type="application/json")

    def _generate(self, body: dict[str, typing.Any]) -> web.Response:
        contents = body.get("contents") or []
        users = [c for c in contents if isinstance(c, dict) and c.get("role", "user") == "user"]
        question = "\n".join(_texts(users[-1])) if users else ""
        answer = answer_from_prompt(question)
        config = body.get("generationConfig") or {}
        limit = int(config.get("maxOutputTokens") or 8192)
        answer = answer[: limit * 4]
        system = _texts(body.get("systemInstruction"))
        prompt_tokens = count_text_tokens([*system, *(t for c in contents for t in _texts(c))])
        output_tokens = count_text_tokens([answer])
        return json_response(
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"text": answer}]},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": prompt_tokens,
                    "candidatesTokenCount": output_tokens,
                    "totalTokenCount": prompt_tokens + output_tokens,
                },
                "modelVersion": "loopback",
            }
        )

    async def state(self, _: web.Request) -> web.Response:
        return json_response(
            {
                "latency_seconds": self.latency_seconds,
                "embedding_latency_seconds": self.embedding_latency_seconds,
                "faults": [dataclasses.asdict(f) for f in self.faults],
                "requests": list(self.requests),
                "in_flight": self.in_flight,
                "peak_in_flight": self.peak_in_flight,
            }
        )

    async def configure(self, request: web.Request) -> web.Response:
        """`{"latency_seconds": 1.5, "embedding_latency_seconds": 5, "faults": [{"kind": "429",
        "retry_delay_seconds": 47}, {"kind": "500", "method": "batchEmbedContents"}],
        "clear_requests": true}`: latencies replace the current ones, faults are queued."""
        body = await read_json(request)
        for name in ("latency_seconds", "embedding_latency_seconds"):
            latency = body.get(name)
            if latency is not None:
                if (
                    not isinstance(latency, int | float)
                    or isinstance(latency, bool)
                    or not 0 <= latency <= 600
                ):
                    raise ControlError(400, f"{name} must be a number 0..600")
                setattr(self, name, float(latency))
        for fault in body.get("faults") or []:
            kind = fault.get("kind") if isinstance(fault, dict) else None
            if kind not in _FAULTS:
                raise ControlError(400, f"a fault's kind must be one of {sorted(_FAULTS)}")
            delay = fault.get("retry_delay_seconds", 30)
            if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= 3600:
                raise ControlError(400, "retry_delay_seconds must be an integer 0..3600")
            method = fault.get("method")
            if method is not None and method not in _ANSWERING | _EMBEDDING:
                raise ControlError(
                    400, f"a fault's method must be one of {sorted(_ANSWERING | _EMBEDDING)}"
                )
            self.faults.append(Fault(kind, delay, method))
        if body.get("clear_requests"):
            self.requests.clear()
            self.peak_in_flight = self.in_flight
        return await self.state(request)
