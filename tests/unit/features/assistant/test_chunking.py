"""Cutting documents into passages of about 500 tokens on headings and paragraphs."""

from __future__ import annotations

import itertools

from townsquare.features.assistant.domain.chunking import (
    TARGET_TOKENS,
    chunk_markdown,
    estimate_tokens,
    split_sentences,
)


def test_each_heading_starts_its_own_passages() -> None:
    doc = (
        "# Rules\n\nBe kind.\n\n## Links\n\nNo invite links.\n\nUse #links.\n\n## Spam\n\nNo spam."
    )
    passages = chunk_markdown(doc)
    assert [(p.heading, p.text) for p in passages] == [
        ("Rules", "Be kind."),
        ("Links", "No invite links.\n\nUse #links."),
        ("Spam", "No spam."),
    ]


def test_long_sections_are_cut_near_the_target_with_overlap() -> None:
    paragraphs = [f"Paragraph {n} starts. " + "Words about the server. " * 20 for n in range(40)]
    passages = chunk_markdown("## Guide\n\n" + "\n\n".join(paragraphs))
    assert len(passages) > 3
    assert all(p.tokens <= TARGET_TOKENS + 10 for p in passages)
    for before, after in itertools.pairwise(passages):
        # the last sentences of one passage open the next
        carried = after.text.split("\n\n")[0]
        assert 0 < len(carried) < len(before.text.split("\n\n")[-1])
        assert before.text.endswith(carried)
    text = "\n\n".join(p.text for p in passages)
    assert all(paragraph.strip() in text for paragraph in paragraphs)


def test_a_huge_paragraph_is_cut_on_sentences() -> None:
    paragraph = " ".join(f"Sentence {n} is here." for n in range(800))
    passages = chunk_markdown(paragraph)
    assert len(passages) > 1
    assert all(p.tokens <= TARGET_TOKENS + 10 for p in passages)
    assert all(p.text.rstrip().endswith(".") for p in passages)


def test_blank_documents_have_no_passages() -> None:
    assert chunk_markdown("\n\n  \n") == []


def test_sentences_keep_their_text() -> None:
    assert split_sentences("One. Two? Three! four") == ["One. ", "Two? ", "Three! ", "four"]
    assert estimate_tokens("abcd" * 10) == 10
