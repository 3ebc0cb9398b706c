"""Embedding the knowledge base: every passage gets a gemini-embedding-001 vector, resumably.

A passage's embedding state is its row: `knowledge_chunks.embedding` is NULL until it is
embedded (migration `0009_assistant_vectors`; a partial index finds those). Writing a
document stores its passages at once, unembedded (full-text search finds them from that
moment); :func:`embed_pending` then embeds them in batches of :data:`BATCH_SIZE` (what one
`batchEmbedContents` call takes). Each batch is one transaction: its rows are locked
(`FOR UPDATE SKIP LOCKED`, so two workers share the work instead of doing it twice), embedded,
written, committed. A process killed at any instant loses at most the batch in hand, whose
rows are still NULL: the next run picks them up. A passage rebuilt by an edit is a new row,
NULL again, so edited text is always re-embedded. A batch the model refuses (a 4xx other
than 429: some passage it will never take) is sent again one passage at a time, and a passage
refused alone is stored with an empty embedding: never retried, never searched by vector
(full text still finds it), and never holding back the passages after it.

Vectors are stored as 768 little-endian float32 (3,072 bytes, `bytea`: pgvector is not
assumed), normalised to unit length (gemini-embedding-001's reduced sizes are not), so a dot
product is the cosine similarity.
"""

from __future__ import annotations

import typing

import numpy as np
import structlog
from tortoise.transactions import in_transaction

from townsquare.features.assistant.domain.gemini import EMBEDDING_DIMENSIONS, ModelUnavailable

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    import numpy.typing as npt

__all__ = [
    "BATCH_SIZE",
    "EmbedTexts",
    "decode_vectors",
    "embed_pending",
    "pending_passages",
    "unit_vector",
]

BATCH_SIZE: typing.Final = 100
"""Passages per `batchEmbedContents` call (the API's limit per request)."""

type EmbedTexts = Callable[[Sequence[str]], Awaitable[Sequence[Sequence[float]]]]
"""Texts -> one embedding each, in order (the model's `RETRIEVAL_DOCUMENT` embedding)."""

_PENDING = """
SELECT c.id, c.heading, c.text, d.title
FROM knowledge_chunks c JOIN knowledge_documents d ON d.id = c.document_id
WHERE c.embedding IS NULL
ORDER BY c.id
LIMIT $1
FOR UPDATE OF c SKIP LOCKED
"""
_STORE = """
UPDATE knowledge_chunks c SET embedding = v.embedding
FROM unnest($1::bigint[], $2::bytea[]) AS v(id, embedding)
WHERE c.id = v.id
"""
_log = structlog.get_logger(__name__)
_COUNT_PENDING = "SELECT count(*) AS n FROM knowledge_chunks WHERE embedding IS NULL"


def unit_vector(values: Sequence[float]) -> npt.NDArray[np.float32]:
    """`values` as a unit-length float32 vector; ValueError for a wrong size, a zero or a
    non-finite vector (an answer not shaped like an embedding)."""
    vector = np.asarray(values, dtype=np.float32)
    if vector.shape != (EMBEDDING_DIMENSIONS,):
        raise ValueError(f"an embedding has {EMBEDDING_DIMENSIONS} values, not {vector.shape}")
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("an embedding must be finite and not zero")
    return vector / np.float32(norm)


def decode_vectors(blobs: Sequence[bytes]) -> npt.NDArray[np.float32]:
    """Stored embeddings as one (n, 768) matrix."""
    joined = b"".join(blobs)
    return np.frombuffer(joined, dtype="<f4").reshape(len(blobs), EMBEDDING_DIMENSIONS)


async def _embedded(texts: list[str], embed: EmbedTexts) -> list[bytes]:
    """The stored form of each text's embedding; b"" for a text the model refuses alone."""
    try:
        vectors = await embed(texts)
    except ModelUnavailable as error:
        if error.kind != "refused":
            raise
        if len(texts) == 1:
            _log.warning("assistant.passage_not_embeddable", error=str(error))
            return [b""]
        return [blob for text in texts for blob in await _embedded([text], embed)]
    if len(vectors) != len(texts):
        raise ValueError(f"{len(texts)} passages sent, {len(vectors)} embeddings back")
    return [unit_vector(v).astype("<f4").tobytes() for v in vectors]


def _passage_text(row: dict[str, typing.Any]) -> str:
    # The document's title and the section's heading belong to the passage's meaning.
    return "\n".join(part for part in (row["title"], row["heading"], row["text"]) if part)


async def pending_passages() -> int:
    """Passages not embedded yet (every guild)."""
    async with in_transaction() as connection:
        [row] = await connection.execute_query_dict(_COUNT_PENDING)
    return int(row["n"])


async def embed_pending(embed: EmbedTexts, *, max_batches: int | None = None) -> int:
    """Embed the passages that have no embedding, :data:`BATCH_SIZE` a call, until none is
    left (or `max_batches`); returns how many were embedded. An error of the model (raised by
    `embed`) leaves the batch in hand unembedded, for the next run."""
    embedded = batches = 0
    while max_batches is None or batches < max_batches:
        async with in_transaction() as connection:
            rows = await connection.execute_query_dict(_PENDING, [BATCH_SIZE])
            if not rows:
                break
            blobs = await _embedded([_passage_text(row) for row in rows], embed)
            await connection.execute_query(_STORE, [[row["id"] for row in rows], blobs])
        embedded += len(rows)
        batches += 1
    return embedded
