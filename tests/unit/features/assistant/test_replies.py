"""Splitting answers at 2,000 characters on sentence boundaries, and `[n]` citations."""

from __future__ import annotations

from townsquare.features.assistant.domain.replies import (
    MESSAGE_LIMIT,
    Source,
    cited_numbers,
    split_message,
    with_sources,
)

SOURCES = (
    Source(1, "Server rules", "https://example.org/knowledge/1/10"),
    Source(2, "#faq", "https://discord.com/channels/1/2/3"),
    Source(3, "Events", "https://example.org/knowledge/1/11"),
)


def test_a_short_answer_is_one_message() -> None:
    assert split_message("Links are allowed in #links. Ask a moderator.") == [
        "Links are allowed in #links. Ask a moderator."
    ]


def test_long_answers_are_cut_after_sentences_and_lose_nothing() -> None:
    sentences = [f"Sentence number {n} says something about rule {n % 7}. " for n in range(120)]
    text = "".join(sentences).strip()
    pieces = split_message(text)
    assert len(pieces) > 1
    assert all(len(piece) <= MESSAGE_LIMIT for piece in pieces)
    assert all(piece.endswith(".") for piece in pieces)  # never mid-sentence
    assert " ".join(pieces) == text


def test_a_sentence_longer_than_a_message_is_cut_at_spaces() -> None:
    text = "word " * 900 + "end."
    pieces = split_message(text.strip())
    assert all(len(piece) <= MESSAGE_LIMIT for piece in pieces)
    assert " ".join(pieces).split() == text.split()
    assert all(not piece.startswith(" ") and not piece.endswith(" ") for piece in pieces)


def test_an_unbroken_word_is_cut_at_the_limit() -> None:
    pieces = split_message("x" * 4500)
    assert [len(p) for p in pieces] == [2000, 2000, 500]


def test_line_breaks_are_kept_inside_a_piece() -> None:
    assert split_message("First line.\nSecond line.") == ["First line.\nSecond line."]


def test_citations_list_the_cited_sources_in_order_of_first_use() -> None:
    answer = "Links go in #links [2]. No spam [1]. Links again [2]."
    text = with_sources(answer, SOURCES)
    body, sources = text.split("\n\n**Sources**\n")
    assert body == answer
    assert sources.splitlines() == [
        "[2] #faq — <https://discord.com/channels/1/2/3>",
        "[1] Server rules — <https://example.org/knowledge/1/10>",
    ]


def test_markers_naming_no_source_are_dropped() -> None:
    assert cited_numbers("a [7] b [1] c [0]", 3) == [1]
    text = with_sources("Made up [7]. Real [3].", SOURCES)
    assert "[7]" not in text
    assert text.endswith("[3] Events — <https://example.org/knowledge/1/11>")


def test_an_answer_without_markers_has_no_sources_list() -> None:
    assert with_sources("I don't know.", SOURCES) == "I don't know."
