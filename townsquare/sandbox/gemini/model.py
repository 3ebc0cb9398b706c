"""The loopback model's answers: deterministic, from the passages in the prompt.

Answers extract: the question's words are matched against each sentence of the numbered
passages in the last user turn (the layout the assistant writes, `[n] title` then the text,
and `Question: ...`), and the best one or two sentences are returned with their `[n]`
markers. No passage sharing a word with the question gives "I don't know". Token counts
are four characters a token, rounded up, per part. Embeddings are hashed word features
(each lowercased word adds to one of `dimensions` buckets, by a stable hash), normalised,
so texts that share words are near each other; plus, as real embedding models do, a part
every text shares (unrelated texts are about 0.5 apart in cosine, not 0).

A few words have synonyms (:data:`CONCEPTS`: "url" is "link", "share" is "post"...), the
model's stand-in for meaning: a question phrased with none of a passage's words still
lands near it, which full-text search cannot do and embeddings are for.
"""

from __future__ import annotations

import hashlib
import math
import re
import typing

__all__ = [
    "CONCEPTS",
    "DONT_KNOW",
    "answer_from_prompt",
    "count_text_tokens",
    "embed_text",
    "words",
]

DONT_KNOW: typing.Final = "I don't know: the passages I was given do not say."
_WORD = re.compile(r"[a-z0-9]+")
_STOP: typing.Final = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "the",
        "their",
        "there",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "about",
        "any",
        "anything",
    ]
)
CONCEPTS: typing.Final = {
    "url": "link",
    "hyperlink": "link",
    "weblink": "link",
    "website": "link",
    "share": "post",
    "paste": "post",
    "advertise": "post",
    "flood": "spam",
    "flooding": "spam",
    "invitation": "invite",
    "film": "movie",
    "cinema": "movie",
    "mod": "moderator",
    "staff": "moderator",
    "admin": "moderator",
    "punished": "banned",
    "kicked": "banned",
    "penalty": "warning",
}
"""Word -> the word standing for its meaning (after the plural `s` is dropped)."""
_PASSAGE = re.compile(r"^\[(\d+)\] .*$", re.MULTILINE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def words(text: str) -> set[str]:
    """The content words of `text`: lowercased, stop words out, a plural `s` dropped."""
    found = set()
    for word in _WORD.findall(text.lower()):
        if word in _STOP or len(word) < 2:
            continue
        singular = word[:-1] if len(word) > 3 and word.endswith("s") else word
        found.add(CONCEPTS.get(singular, singular))
    return found


def count_text_tokens(texts: typing.Iterable[str]) -> int:
    return sum(max(1, -(-len(text) // 4)) for text in texts if text)


def _passages(prompt: str) -> list[tuple[int, str]]:
    head, _, _ = prompt.rpartition("\n\nQuestion:")
    starts = list(_PASSAGE.finditer(head))
    passages = []
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(head)
        body = head[match.end() : end].strip()
        passages.append((int(match.group(1)), body))
    return passages


def answer_from_prompt(prompt: str) -> str:
    """The answer to the last user turn of the assistant's layout (see the module's doc); a
    turn without a question is summarised (its first lines, counted)."""
    _, marker, question = prompt.rpartition("Question:")
    if not marker:
        lines = [line for line in prompt.splitlines()[1:] if line.strip()]
        gist = " / ".join(line[:80] for line in lines[:3])
        return f"Summary of {len(lines)} messages: {gist}"
    asked = words(question if marker else prompt)
    scored: list[tuple[int, int, int, str]] = []
    for number, body in _passages(prompt):
        for position, sentence in enumerate(_SENTENCE_END.split(body)):
            overlap = len(asked & words(sentence))
            if overlap:
                scored.append((-overlap, number, position, sentence.strip()))
    if not scored:
        return DONT_KNOW
    best = sorted(scored)[:2]
    best.sort(key=lambda item: (item[1], item[2]))
    return " ".join(f"{sentence.rstrip()} [{number}]" for _, number, _, sentence in best)


def embed_text(text: str, dimensions: int) -> list[float]:
    """Unit vector: half the weight on the text's hashed words (unit), half on a direction
    every text shares, so cosine(a, b) is about 0.5 + 0.5 * (their words' cosine)."""
    features = [0.0] * dimensions
    for word in words(text):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        bucket = int.from_bytes(digest[:4], "big") % dimensions
        features[bucket] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in features)) or 1.0
    shared = 1.0 / math.sqrt(dimensions)
    vector = [v / norm + shared for v in features]
    total = math.sqrt(sum(v * v for v in vector))
    return [v / total for v in vector]
