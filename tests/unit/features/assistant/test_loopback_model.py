"""The sandbox's loopback model: deterministic, extracting from the prompt's passages."""

from __future__ import annotations

import math

from townsquare.sandbox.gemini.model import DONT_KNOW, answer_from_prompt, embed_text

PROMPT = """Passages:
[1] Server rules — Links
Do not post invite links to other servers. Links to videos go in #media.

[2] FAQ — Roles
Roles are given by the level bot. Ask in #help.

Question: what are the rules about links?"""


def test_the_answer_extracts_matching_sentences_with_their_markers() -> None:
    assert answer_from_prompt(PROMPT) == (
        "Do not post invite links to other servers. [1] Links to videos go in #media. [1]"
    )


def test_no_matching_passage_is_i_dont_know() -> None:
    assert answer_from_prompt(PROMPT.replace("about links", "of the capital of France")) == (
        DONT_KNOW
    )
    assert answer_from_prompt("Passages:\n(none)\n\nQuestion: links?") == DONT_KNOW


def test_embeddings_of_texts_sharing_words_are_closer() -> None:
    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    links, invite, roles = (
        embed_text(t, 768) for t in ("rules about links", "invite links rules", "level roles")
    )
    assert math.isclose(cosine(links, links), 1.0)
    assert cosine(links, invite) > cosine(links, roles)
