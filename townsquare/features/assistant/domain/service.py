"""Where the model is, and one :class:`~.ask.Assistant` per process built from the settings.

With `ai.gemini_api_key` set (and `ai.enabled`), the model is Gemini at `ai.base_url`.
Without a key, against the sandbox (no bot token), it is the sandbox's loopback Gemini,
served beside its Discord (`<sandbox root>/gemini/`), so `make run` answers questions with no
account anywhere. Otherwise there is no model, and questions get a refusal saying so.

The process keeps a few `httpx.AsyncClient`s per event loop (the SDK's transport, see
:mod:`.gemini`; :data:`_POOLS` says why several) and replaces the models when the endpoint
changes (a restarted sandbox).
"""

from __future__ import annotations

import asyncio
import dataclasses
import typing
import weakref

import httpx

from townsquare.core.discord import DiscordTargetError, resolve_discord_target
from townsquare.features.assistant.domain.ask import Assistant
from townsquare.features.assistant.domain.budget import Budget
from townsquare.features.assistant.domain.gemini import Model

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.premium import Gate
    from townsquare.core.settings import Settings

__all__ = [
    "LOOPBACK_PATH",
    "Endpoint",
    "assistant_for",
    "document_page_path",
    "gemini_endpoint",
    "model_for",
]

LOOPBACK_PATH: typing.Final = "/gemini/"
"""Where the sandbox serves its loopback Gemini, below its root (the sandbox's own
`GEMINI_PREFIX`; the product does not import the sandbox)."""
_SANDBOX_API_KEY: typing.Final = "sandbox"
_HTTP_TIMEOUT: typing.Final = httpx.Timeout(connect=5.0, read=None, write=10.0, pool=None)
"""The deadline is the assistant's (`ai.timeout_seconds`), not the transport's."""
_HTTP_LIMITS: typing.Final = httpx.Limits(max_connections=250, max_keepalive_connections=50)


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    base_url: str
    api_key: str = dataclasses.field(repr=False)


def gemini_endpoint(settings: Settings) -> Endpoint | None:
    """The Gemini to call, or None when there is none (see the module's doc)."""
    key = settings.ai.gemini_api_key
    if key is not None and settings.ai.enabled:
        return Endpoint(settings.ai.base_url, key.get_secret_value())
    try:
        target = resolve_discord_target(settings)
    except DiscordTargetError:
        return None
    if not target.is_sandbox:
        return None
    root = target.rest_url.rsplit("/api/", 1)[0]
    return Endpoint(root + LOOPBACK_PATH, _SANDBOX_API_KEY)


def document_page_path(guild_id: int, document_id: int) -> str:
    """The public page of a written document (what a citation links to)."""
    return f"/knowledge/{guild_id}/{document_id}"


_POOLS: typing.Final = 32
"""httpx connection pools per event loop, used in turn. httpcore matches each request to a
connection by scanning its pool (quadratic in the connections in use): with hundreds of
questions in flight one pool spent more CPU there than everything else (profiled); eight
pools of a few dozen connections each cost a sixty-fourth of that."""


@dataclasses.dataclass(slots=True)
class _Models:
    clients: list[httpx.AsyncClient]
    models: dict[tuple[str, str, str, str], list[Model]] = dataclasses.field(default_factory=dict)
    turn: int = 0


_PER_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Models] = (
    weakref.WeakKeyDictionary()
)


def model_for(settings: Settings) -> Model | None:
    """This process's model for these settings (one of its pools, in turn), or None."""
    return _model(settings)


def _model(settings: Settings) -> Model | None:
    endpoint = gemini_endpoint(settings)
    if endpoint is None:
        return None
    loop = asyncio.get_running_loop()
    models = _PER_LOOP.get(loop)
    if models is None:
        clients = [
            httpx.AsyncClient(timeout=_HTTP_TIMEOUT, limits=_HTTP_LIMITS) for _ in range(_POOLS)
        ]
        models = _PER_LOOP[loop] = _Models(clients)
    key = (endpoint.base_url, endpoint.api_key, settings.ai.model, settings.ai.embedding_model)
    pool = models.models.get(key)
    if pool is None:
        models.models.clear()
        pool = models.models[key] = [
            Model(
                api_key=endpoint.api_key,
                model=settings.ai.model,
                base_url=endpoint.base_url,
                http=client,
                embedding_model=settings.ai.embedding_model,
            )
            for client in models.clients
        ]
    models.turn = (models.turn + 1) % len(pool)
    return pool[models.turn]


def assistant_for(
    settings: Settings, redis: aioredis.Redis, keyspace: Keyspace, gate: Gate
) -> Assistant:
    """The assistant of this process (its model shared by every question on this loop)."""
    public_url = settings.http.public_url.rstrip("/")
    return Assistant(
        redis=redis,
        keyspace=keyspace,
        budget=Budget(gate, public_url),
        model=_model(settings),
        timeout_seconds=settings.ai.timeout_seconds,
        max_prompt_tokens=settings.ai.max_prompt_tokens,
        embedding_timeout_seconds=settings.ai.embedding_timeout_seconds,
        document_url=lambda guild_id, document_id: (
            public_url + document_page_path(guild_id, document_id)
        ),
    )
