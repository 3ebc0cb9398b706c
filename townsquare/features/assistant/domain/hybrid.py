"""Hybrid retrieval: full-text rank and vector similarity, fused by reciprocal rank.

A question runs both searches at once: PostgreSQL full text (:mod:`.retrieval`, with its
relevance floor) and the question's embedding (gemini-embedding-001, `RETRIEVAL_QUERY`)
against the guild's passage vectors (:mod:`.vectors`, cosine similarity at least
:data:`VECTOR_FLOOR`). Each gives a ranked list of up to :data:`CANDIDATES`; a passage's fused
score is the sum over the lists it is in of `1 / (RRF_K + rank)` (rank from 1), the
reciprocal rank fusion of Cormack et al. with their k = 60: ranks, not scores, are combined,
so neither search's scale has to be calibrated against the other's. A passage either search
finds counts; one both find comes first.

Full text alone when the vector half cannot be had: no model configured, or embedding the
question failed or took more than its bound (`ai.embedding_timeout_seconds`, and never past
the question's deadline). That is recorded: the :class:`Retrieved` says so (`mode`,
`fallback`, which the answer's :class:`~.ask.Outcome` keeps as `retrieval`) and a warning
`assistant.vector_fallback` is logged with the reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
import typing

import structlog

from townsquare.features.assistant.domain.embeddings import unit_vector
from townsquare.features.assistant.domain.gemini import ModelUnavailable
from townsquare.features.assistant.domain.retrieval import (
    TOP_PASSAGES,
    passages_by_id,
    search_passages_and_generation,
)
from townsquare.features.assistant.domain.vectors import guild_vectors

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from townsquare.features.assistant.domain.retrieval import Found

__all__ = [
    "CANDIDATES",
    "RRF_K",
    "VECTOR_FLOOR",
    "EmbedQuestion",
    "Retrieved",
    "reciprocal_rank_fusion",
    "retrieve",
]

RRF_K: typing.Final = 60
"""Reciprocal rank fusion's constant (Cormack, Clarke and Büttcher, 2009)."""
CANDIDATES: typing.Final = 64
"""Passages each search contributes to the fusion."""
VECTOR_FLOOR: typing.Final = 0.6
"""Lowest cosine similarity a passage may have to be found by vector. Embedding models place
unrelated texts well above 0 (gemini-embedding-001 typically around 0.5, and the sandbox's
loopback model by construction), so this is a floor above "unrelated", not above zero."""

type EmbedQuestion = Callable[[str], Awaitable[Sequence[float]]]
"""A question -> its embedding (the model's `RETRIEVAL_QUERY` embedding)."""

_log = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Retrieved:
    passages: list[Found]
    """Best first, each with its fused score as `rank`."""
    mode: typing.Literal["hybrid", "full_text"]
    fallback: str | None = None
    """Why the vector half was left out (`timeout`, `rate_limited`, `server`, `malformed`,
    `refused`, `no_model`), or None."""
    embedding_seconds: float = 0.0
    """Time spent waiting for the question's embedding (it counts against the question's
    model deadline)."""


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], k: int = RRF_K
) -> list[tuple[int, float]]:
    """Ids of every ranking (best first), by their summed `1 / (k + rank)`, best first (ties by
    the order of first appearance)."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])


async def retrieve(
    guild_id: int,
    question: str,
    *,
    documents_limit: int | None,
    embed_question: EmbedQuestion | None,
    bound_seconds: float,
    top: int = TOP_PASSAGES,
) -> Retrieved:
    """The guild's best `top` passages for `question` (see the module's doc)."""
    full_text = asyncio.ensure_future(
        search_passages_and_generation(
            guild_id, question, documents_limit=documents_limit, top=CANDIDATES
        )
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        if embed_question is None:
            return _full_text_only(guild_id, (await full_text)[0], top, "no_model", 0.0)
        try:
            async with asyncio.timeout(bound_seconds):
                query = unit_vector(await embed_question(question))
        except TimeoutError:
            reason = "timeout"
        except ModelUnavailable as error:
            reason = error.kind
        except ValueError:
            reason = "malformed"
        else:
            reason = ""
        spent = loop.time() - started
        if reason:
            return _full_text_only(guild_id, (await full_text)[0], top, reason, spent)
        by_text, generation = await full_text
        vectors = await guild_vectors(guild_id, generation)
        near = vectors.nearest(query, CANDIDATES, VECTOR_FLOOR)
    finally:
        full_text.cancel()
    fused = reciprocal_rank_fusion([[f.chunk_id for f in by_text], [c for c, _ in near]])
    known = {f.chunk_id: f for f in by_text}
    missing = [chunk_id for chunk_id, _ in fused[: top * 2] if chunk_id not in known]
    if missing:  # found by vector only: read them (and drop those the tier does not search)
        known |= await passages_by_id(guild_id, missing, documents_limit=documents_limit)
    passages = [
        dataclasses.replace(known[chunk_id], rank=score)
        for chunk_id, score in fused
        if chunk_id in known
    ]
    return Retrieved(passages[:top], "hybrid", embedding_seconds=spent)


def _full_text_only(
    guild_id: int, found: list[Found], top: int, reason: str, spent: float
) -> Retrieved:
    if reason != "no_model":
        _log.warning("assistant.vector_fallback", guild_id=guild_id, reason=reason)
    return Retrieved(found[:top], "full_text", reason, spent)
