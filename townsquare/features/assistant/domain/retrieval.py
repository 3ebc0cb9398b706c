"""Full-text retrieval: the guild's passages that best match a question's words (PostgreSQL).

The full-text half of hybrid retrieval (:mod:`.hybrid` fuses it with vector similarity, and
uses it alone when the question cannot be embedded). Full text needs nothing but PostgreSQL,
works offline and deterministically, and is strong on what a server's knowledge base holds:
short rules and FAQ entries whose words the members repeat in their questions.

Ranking is in two steps: the matching passages are cut to the best :data:`CANDIDATES` by
`ts_rank` (word frequency), which are then ordered by `ts_rank_cd` (cover density: how close
together the question's words stand), which costs three times as much per passage (measured)
and alone decides the floor. The question's words are OR-ed (`plainto_tsquery` joins them with
AND, which drops a passage for one missing word), stemmed by the `english` configuration, and
matched against each passage's stored `tsvector` through a GIN index, so a search is one
indexed query that parses no passage text. Every query is filtered by guild: a guild's question
can only ever see its own passages.

A passage must rank at least :data:`RELEVANCE_FLOOR` (normalised rank, 0..1) to be used:
with nothing above it the assistant says it does not know.
"""

from __future__ import annotations

import dataclasses
import typing

from tortoise import connections

__all__ = [
    "FTS_DOCUMENT",
    "RELEVANCE_FLOOR",
    "TOP_PASSAGES",
    "Found",
    "passages_by_id",
    "search_passages",
    "search_passages_and_generation",
]

TOP_PASSAGES: typing.Final = 8
"""Passages retrieved per question; the prompt takes as many as fit its token budget."""
RELEVANCE_FLOOR: typing.Final = 0.05
"""Lowest normalised rank (`ts_rank_cd(..., 32)`, in 0..1) a passage may have to be used;
one occurrence of one question word ranks about 0.09."""
CANDIDATES: typing.Final = 64
"""Matching passages ranked by cover density; the rest are cut by the cheaper `ts_rank`."""
FTS_DOCUMENT: typing.Final = "c.search"
"""The passage's words: a stored generated column, `to_tsvector('english', heading || ' ' ||
text)`, under the GIN index `knowledge_chunks_fts` (migration `0006_assistant`), so neither
matching nor ranking parses any text at question time."""

_RANKED = f"""
WITH q AS (
  SELECT replace(plainto_tsquery('english', $2)::text, ' & ', ' | ')::tsquery AS query
), allowed AS (
  SELECT id FROM knowledge_documents
  WHERE guild_id = $1 AND source <> 'message'
  ORDER BY created_at, id LIMIT $4
), candidates AS (
  SELECT c.id, c.document_id, c.heading, c.text, c.tokens, {FTS_DOCUMENT} AS search
  FROM knowledge_chunks c, q
  WHERE c.guild_id = $1 AND {FTS_DOCUMENT} @@ q.query
  ORDER BY ts_rank({FTS_DOCUMENT}, q.query) DESC, c.id
  LIMIT {CANDIDATES}
), ranked AS (
  SELECT c.id, c.document_id, c.heading, c.text, c.tokens, d.title, d.url, d.source,
         ts_rank_cd(c.search, q.query, 32) AS rank
  FROM candidates c JOIN knowledge_documents d ON d.id = c.document_id, q
  WHERE d.source = 'message' OR d.id IN (SELECT id FROM allowed)
  ORDER BY rank DESC, c.id
  LIMIT $3
)
"""  # noqa: S608 - FTS_DOCUMENT is a constant, the values are parameters
_SEARCH = _RANKED + "SELECT * FROM ranked ORDER BY rank DESC, id"  # noqa: S608 - constants
_SEARCH_AND_GENERATION = (
    _RANKED  # noqa: S608 - constants
    + """
SELECT g.generation, r.*
FROM (
  SELECT coalesce(
    (SELECT generation FROM knowledge_generations WHERE guild_id = $1), 0
  ) AS generation
) g LEFT JOIN ranked r ON true
ORDER BY r.rank DESC NULLS LAST, r.id
"""
)


_BY_ID_ALL = """
SELECT c.id, c.document_id, c.heading, c.text, c.tokens, d.title, d.url, d.source
FROM knowledge_chunks c JOIN knowledge_documents d ON d.id = c.document_id
WHERE c.guild_id = $1 AND c.id = ANY($2::bigint[])
"""
_BY_ID = """
WITH allowed AS (
  SELECT id FROM knowledge_documents
  WHERE guild_id = $1 AND source <> 'message'
  ORDER BY created_at, id LIMIT $3
)
SELECT c.id, c.document_id, c.heading, c.text, c.tokens, d.title, d.url, d.source
FROM knowledge_chunks c JOIN knowledge_documents d ON d.id = c.document_id
WHERE c.guild_id = $1 AND c.id = ANY($2::bigint[])
  AND (d.source = 'message' OR d.id IN (SELECT id FROM allowed))
"""


@dataclasses.dataclass(frozen=True, slots=True)
class Found:
    chunk_id: int
    document_id: int
    title: str
    heading: str
    text: str
    tokens: int
    url: str | None
    source: str
    rank: float


async def search_passages(
    guild_id: int,
    question: str,
    *,
    documents_limit: int | None,
    top: int = TOP_PASSAGES,
    floor: float = RELEVANCE_FLOOR,
) -> list[Found]:
    """The guild's best passages for `question`, best first, each ranked at least `floor`.

    `documents_limit`: how many written or uploaded documents the guild's tier searches (the
    oldest first; None: all); indexed channel messages are always searched.
    """
    rows = await connections.get("default").execute_query_dict(
        _SEARCH, [guild_id, question, top, _limit(documents_limit)]
    )
    return [_found(row, float(row["rank"])) for row in rows if float(row["rank"]) >= floor]


async def search_passages_and_generation(
    guild_id: int,
    question: str,
    *,
    documents_limit: int | None,
    top: int = TOP_PASSAGES,
    floor: float = RELEVANCE_FLOOR,
) -> tuple[list[Found], int]:
    """:func:`search_passages`, and the guild's knowledge generation (the number
    :mod:`.vectors` checks its cached matrix against; 0: none yet) from the same snapshot, in
    one statement: a question's hybrid retrieval makes one round trip for both."""
    rows = await connections.get("default").execute_query_dict(
        _SEARCH_AND_GENERATION, [guild_id, question, top, _limit(documents_limit)]
    )
    found = [
        _found(row, float(row["rank"]))
        for row in rows
        if row["id"] is not None and float(row["rank"]) >= floor
    ]
    return found, int(rows[0]["generation"])


async def passages_by_id(
    guild_id: int, chunk_ids: list[int], *, documents_limit: int | None
) -> dict[int, Found]:
    """The guild's passages among `chunk_ids` that its tier searches (see
    :func:`search_passages`), by id; rank 0 (the caller ranks them)."""
    connection = connections.get("default")
    if documents_limit is None:  # every document searched: no need to rank them by age
        rows = await connection.execute_query_dict(_BY_ID_ALL, [guild_id, chunk_ids])
    else:
        rows = await connection.execute_query_dict(_BY_ID, [guild_id, chunk_ids, documents_limit])
    return {int(row["id"]): _found(row, 0.0) for row in rows}


def _limit(documents_limit: int | None) -> int:
    return 2**31 - 1 if documents_limit is None else documents_limit


def _found(row: dict[str, typing.Any], rank: float) -> Found:
    return Found(
        chunk_id=row["id"],
        document_id=row["document_id"],
        title=row["title"],
        heading=row["heading"],
        text=row["text"],
        tokens=row["tokens"],
        url=row["url"],
        source=row["source"],
        rank=rank,
    )
