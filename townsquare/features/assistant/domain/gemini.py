"""The model: Gemini's `generateContent`, `countTokens` and embeddings through google-genai, async.

The SDK is given our own `httpx.AsyncClient` (`HttpOptions.httpx_async_client`): one
connection pool per process, and the same transport the tests intercept (respx) or point at
the sandbox's loopback Gemini (`base_url`). The SDK's own retries stay off (its default): a
retry is this module's decision, and the assistant makes none after the deadline, so a
question is never answered twice.

Every failure becomes one :class:`ModelUnavailable` with its kind, for the fallback message:
the deadline passed, the model said 429 (with the `RetryInfo` delay when it sent one), a 5xx,
or an answer that is not shaped like one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import typing

import httpx
from google import genai
from google.genai import errors, types

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "API_VERSION",
    "EMBEDDING_DIMENSIONS",
    "Generated",
    "Model",
    "ModelUnavailable",
    "Turn",
    "retry_delay_seconds",
]

API_VERSION: typing.Final = "v1beta"
"""The Gemini API version the Developer API documents (`/v1beta/models/{m}:generateContent`)."""
EMBEDDING_DIMENSIONS: typing.Final = 768
"""Values per embedding (`outputDimensionality`): gemini-embedding-001 gives 3,072 by default;
768 keeps a 10,000-passage guild's matrix at 30 MB, which Google recommends as the smaller
size with little loss of quality."""
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


@dataclasses.dataclass(frozen=True, slots=True)
class Turn:
    role: typing.Literal["user", "model"]
    text: str


@dataclasses.dataclass(frozen=True, slots=True)
class Generated:
    text: str
    prompt_tokens: int
    output_tokens: int
    total_tokens: int
    finish_reason: str


class ModelUnavailable(Exception):
    """No answer from the model: `kind` is `timeout`, `rate_limited`, `server` or `malformed`."""

    def __init__(self, kind: str, detail: str, retry_after_seconds: float | None = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.retry_after_seconds = retry_after_seconds


def retry_delay_seconds(details: object) -> float | None:
    """The `RetryInfo.retryDelay` of a Google API error body (`"47s"`), if it has one."""
    error = details.get("error") if isinstance(details, dict) else None
    entries = error.get("details") if isinstance(error, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and str(entry.get("@type", "")).endswith("RetryInfo"):
            match = _DELAY.match(str(entry.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _contents(turns: Sequence[Turn]) -> list[types.Content]:
    return [types.Content(role=turn.role, parts=[types.Part(text=turn.text)]) for turn in turns]


class Model:
    """One Gemini model behind one API key and base URL (real Gemini or the loopback)."""

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str,
        http: httpx.AsyncClient,
        embedding_model: str = "gemini-embedding-001",
    ) -> None:
        self.name = model
        self.embedding_model = embedding_model
        self._client = genai.Client(
            api_key=api_key,
            http_options=types.HttpOptions(
                base_url=base_url, api_version=API_VERSION, httpx_async_client=http
            ),
        )

    async def count_tokens(self, system: str, turns: Sequence[Turn]) -> int:
        """Tokens of the prompt as the model counts them (the system instruction is counted
        as a leading user turn: countTokens takes contents only)."""
        contents = _contents([Turn("user", system), *turns])
        try:
            counted = await self._client.aio.models.count_tokens(model=self.name, contents=contents)
        except (errors.APIError, httpx.HTTPError, ValueError) as error:
            raise _unavailable(error) from error
        if counted.total_tokens is None:
            raise ModelUnavailable("malformed", "countTokens answered without totalTokens")
        return counted.total_tokens

    async def generate(
        self, system: str, turns: Sequence[Turn], *, max_output_tokens: int, deadline: float
    ) -> Generated:
        """The model's answer, within `deadline` seconds or :class:`ModelUnavailable`."""
        config = types.GenerateContentConfig(
            system_instruction=system, max_output_tokens=max_output_tokens, candidate_count=1
        )
        try:
            async with asyncio.timeout(deadline):
                response = await self._client.aio.models.generate_content(
                    model=self.name, contents=_contents(turns), config=config
                )
        except TimeoutError as error:
            raise ModelUnavailable("timeout", f"no answer within {deadline:g} s") from error
        except (errors.APIError, httpx.HTTPError, ValueError) as error:
            raise _unavailable(error) from error
        return _generated(response)

    async def embed(
        self,
        texts: Sequence[str],
        task_type: typing.Literal["RETRIEVAL_DOCUMENT", "RETRIEVAL_QUERY"],
    ) -> list[list[float]]:
        """One embedding of :data:`EMBEDDING_DIMENSIONS` values per text, in order (one
        `batchEmbedContents` call: at most 100 texts), or :class:`ModelUnavailable`."""
        config = types.EmbedContentConfig(
            task_type=task_type, output_dimensionality=EMBEDDING_DIMENSIONS
        )
        try:
            response = await self._client.aio.models.embed_content(
                model=self.embedding_model,
                contents=[types.Content(parts=[types.Part(text=text)]) for text in texts],
                config=config,
            )
        except (errors.APIError, httpx.HTTPError, ValueError) as error:
            raise _unavailable(error) from error
        vectors = [list(e.values or []) for e in response.embeddings or []]
        if len(vectors) != len(texts) or any(len(v) != EMBEDDING_DIMENSIONS for v in vectors):
            raise ModelUnavailable("malformed", "batchEmbedContents answered the wrong shape")
        return vectors


def _unavailable(error: Exception) -> ModelUnavailable:
    if isinstance(error, errors.APIError):
        if error.code == 429:
            return ModelUnavailable(
                "rate_limited", str(error.status), retry_delay_seconds(error.details)
            )
        if error.code >= 500:
            return ModelUnavailable("server", f"HTTP {error.code} {error.status}")
        return ModelUnavailable("refused", f"HTTP {error.code} {error.status}")
    if isinstance(error, httpx.TimeoutException):
        return ModelUnavailable("timeout", repr(error))
    if isinstance(error, httpx.HTTPError):
        return ModelUnavailable("server", repr(error))
    return ModelUnavailable("malformed", repr(error))


def _generated(response: types.GenerateContentResponse) -> Generated:
    candidates = response.candidates or []
    parts = (candidates[0].content.parts if candidates and candidates[0].content else None) or []
    text = "".join(part.text for part in parts if part.text)
    usage = response.usage_metadata
    if not text or usage is None or usage.total_token_count is None:
        raise ModelUnavailable("malformed", "no text or no usageMetadata in the answer")
    reason = candidates[0].finish_reason
    return Generated(
        text=text,
        prompt_tokens=usage.prompt_token_count or 0,
        output_tokens=usage.candidates_token_count or 0,
        total_tokens=usage.total_token_count,
        finish_reason=str(reason.value) if reason is not None else "",
    )
