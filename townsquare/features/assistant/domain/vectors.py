"""Exact nearest passages by embedding, in process: a guild's vectors as one numpy matrix.

pgvector is not assumed (the platform runs on a stock PostgreSQL 15+), so a guild's embedded
passages are loaded from PostgreSQL once into a (passages x 768) float32 matrix of unit rows;
a question's vector against it is one matrix-vector product and a partial sort: about 2 ms
for 10,000 passages (`benchmarks/bench_assistant_retrieval.py`). Exact search, no index to
build or tune; it stays the better choice up to a few hundred thousand passages per guild,
past which (a 768-float row is 3 KB: 300 MB a guild) an approximate index in the database
(pgvector's HNSW) would be needed.

Staleness: every change to a guild's passages raises its `knowledge_generations` row in the
same transaction (a trigger, migration `0009_assistant_vectors`), and each search reads that
one row first (a question's hybrid retrieval reads it in the statement of its full-text
search); a matrix of an older generation is reloaded (once per process and guild, however
many questions are waiting). The generation is read before the passages, so a cached matrix
is never newer than its number says. Matrices are kept per event loop, least recently used
guilds dropped past :data:`MAX_CACHED_VECTORS` rows in all.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import typing
import weakref

import numpy as np
from tortoise import connections

from townsquare.features.assistant.domain.embeddings import decode_vectors
from townsquare.features.assistant.domain.gemini import EMBEDDING_DIMENSIONS

if typing.TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["MAX_CACHED_VECTORS", "GuildVectors", "guild_vectors"]

MAX_CACHED_VECTORS: typing.Final = 200_000
"""Rows kept in memory per process (event loop), in all guilds: 600 MB at most."""

_GENERATION = "SELECT generation FROM knowledge_generations WHERE guild_id = $1"
_LOAD = """
SELECT id, embedding FROM knowledge_chunks
WHERE guild_id = $1 AND octet_length(embedding) > 0
ORDER BY id
"""


@dataclasses.dataclass(frozen=True, slots=True)
class GuildVectors:
    """A guild's embedded passages at one generation of its knowledge base."""

    generation: int
    chunk_ids: npt.NDArray[np.int64]
    matrix: npt.NDArray[np.float32]
    """(passages, 768), unit rows: a product with a unit query is the cosine similarity."""

    def __len__(self) -> int:
        return len(self.chunk_ids)

    def nearest(
        self, query: npt.NDArray[np.float32], top: int, floor: float
    ) -> list[tuple[int, float]]:
        """The `top` passages most similar to the unit vector `query`, best first, as
        (chunk id, cosine similarity), each at least `floor`."""
        if not len(self) or top <= 0:
            return []
        # einsum's own SIMD loop, on this thread: BLAS's gemv (`@`) spreads one product over
        # every core, which on a busy machine (and a worker with hundreds of questions in
        # flight) costs more in synchronisation than it saves: 31 ms against 1.6 ms median
        # for 10,000 passages, measured under load.
        scores = np.einsum("ij,j->i", self.matrix, query)
        count = min(top, len(scores))
        best = np.argpartition(-scores, count - 1)[:count]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(int(self.chunk_ids[i]), float(scores[i])) for i in best if scores[i] >= floor]


_EMPTY: typing.Final = GuildVectors(
    0, np.empty(0, dtype=np.int64), np.empty((0, EMBEDDING_DIMENSIONS), dtype=np.float32)
)


@dataclasses.dataclass(slots=True)
class _Cache:
    guilds: collections.OrderedDict[int, GuildVectors] = dataclasses.field(
        default_factory=collections.OrderedDict
    )
    loading: dict[tuple[int, int], asyncio.Future[GuildVectors]] = dataclasses.field(
        default_factory=dict
    )

    def keep(self, guild_id: int, vectors: GuildVectors) -> None:
        self.guilds[guild_id] = vectors
        self.guilds.move_to_end(guild_id)
        total = sum(len(v) for v in self.guilds.values())
        while total > MAX_CACHED_VECTORS and len(self.guilds) > 1:
            _, dropped = self.guilds.popitem(last=False)
            total -= len(dropped)


_PER_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Cache] = (
    weakref.WeakKeyDictionary()
)


async def _load(guild_id: int, generation: int) -> GuildVectors:
    rows = await connections.get("default").execute_query_dict(_LOAD, [guild_id])
    if not rows:
        return dataclasses.replace(_EMPTY, generation=generation)
    return GuildVectors(
        generation,
        np.fromiter((row["id"] for row in rows), dtype=np.int64, count=len(rows)),
        decode_vectors([bytes(row["embedding"]) for row in rows]),
    )


async def guild_vectors(guild_id: int, generation: int | None = None) -> GuildVectors:
    """The guild's current embedded passages (cached while its generation stands).

    `generation`: the guild's generation as the caller just read it (hybrid retrieval reads it
    with its full-text search, in the same statement); None: read it here."""
    if generation is None:
        [*found] = await connections.get("default").execute_query_dict(_GENERATION, [guild_id])
        generation = int(found[0]["generation"]) if found else 0
    cache = _PER_LOOP.setdefault(asyncio.get_running_loop(), _Cache())
    cached = cache.guilds.get(guild_id)
    if cached is not None and cached.generation == generation:
        cache.guilds.move_to_end(guild_id)
        return cached
    if generation == 0:
        return _EMPTY
    key = (guild_id, generation)
    loading = cache.loading.get(key)
    if loading is None:
        loading = cache.loading[key] = asyncio.ensure_future(_load(guild_id, generation))
        loading.add_done_callback(lambda _: cache.loading.pop(key, None))
    vectors = await asyncio.shield(loading)
    current = cache.guilds.get(guild_id)
    if current is None or current.generation < vectors.generation:
        cache.keep(guild_id, vectors)
    return vectors
