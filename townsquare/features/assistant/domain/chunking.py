"""Cutting a markdown document into passages of about 500 tokens, on headings and paragraphs.

A passage never straddles a heading: each section is cut on its own, its heading kept with
every passage (so a passage from the middle of "## Links" still says what it is about).
Paragraphs are packed until the next would pass the target; a paragraph longer than the
target is cut on sentence boundaries. Consecutive passages of a section overlap by the last
sentences before the cut, up to :data:`OVERLAP_TOKENS`, so a fact split across the cut is
whole in one of them.

Token counts are estimates (:func:`estimate_tokens`, about four characters a token for
English, rounded up) so chunking needs no model call; the prompt is measured exactly with
the model's countTokens before it is sent.
"""

from __future__ import annotations

import dataclasses
import re
import typing

__all__ = [
    "OVERLAP_TOKENS",
    "TARGET_TOKENS",
    "Passage",
    "chunk_markdown",
    "estimate_tokens",
    "split_sentences",
]

TARGET_TOKENS: typing.Final = 500
OVERLAP_TOKENS: typing.Final = 60
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")


@dataclasses.dataclass(frozen=True, slots=True)
class Passage:
    heading: str
    text: str
    tokens: int


def estimate_tokens(text: str) -> int:
    """Model tokens of `text`, estimated (about four characters each, at least one)."""
    return max(1, -(-len(text) // 4))


def split_sentences(text: str) -> list[str]:
    """`text` cut after each `.`, `!` or `?` followed by white space (kept with its sentence)."""
    pieces, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        pieces.append(text[start : match.end()])
        start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return [piece for piece in pieces if piece.strip()]


def _sections(markdown: str) -> list[tuple[str, list[str]]]:
    sections: list[tuple[str, list[str]]] = [("", [])]
    paragraph: list[str] = []

    def end_paragraph() -> None:
        if paragraph:
            sections[-1][1].append("\n".join(paragraph).strip())
            paragraph.clear()

    for line in markdown.splitlines():
        heading = _HEADING.match(line)
        if heading:
            end_paragraph()
            sections.append((heading.group(2)[:200], []))
        elif line.strip():
            paragraph.append(line.rstrip())
        else:
            end_paragraph()
    end_paragraph()
    return [(heading, paras) for heading, paras in sections if paras]


def _units(paragraphs: list[str], target: int) -> list[str]:
    """Paragraphs, with any longer than `target` cut into runs of sentences (or characters)."""
    units = []
    for paragraph in paragraphs:
        if estimate_tokens(paragraph) <= target:
            units.append(paragraph)
            continue
        run = ""
        for sentence in split_sentences(paragraph):
            left = sentence
            while estimate_tokens(left) > target:  # one enormous "sentence"
                if run:
                    units.append(run.strip())
                    run = ""
                units.append(left[: target * 4])
                left = left[target * 4 :]
            if run and estimate_tokens(run + left) > target:
                units.append(run.strip())
                run = ""
            run += left
        if run.strip():
            units.append(run.strip())
    return units


def chunk_markdown(
    markdown: str, *, target: int = TARGET_TOKENS, overlap: int = OVERLAP_TOKENS
) -> list[Passage]:
    """The passages of `markdown`, in order (none for a blank document)."""
    passages: list[Passage] = []
    for heading, paragraphs in _sections(markdown):
        current: list[str] = []
        fresh = False  # whether `current` holds more than the overlap carried over
        for unit in _units(paragraphs, target - overlap):
            if current and fresh and estimate_tokens("\n\n".join([*current, unit])) > target:
                passages.append(_passage(heading, current))
                tail = _tail(current[-1], overlap)
                current = [tail] if tail else []
                fresh = False
            if current and not fresh and estimate_tokens("\n\n".join([*current, unit])) > target:
                current = []  # no room for the overlap beside this unit
            current.append(unit)
            fresh = True
        if current and fresh:
            passages.append(_passage(heading, current))
    return passages


def _tail(unit: str, overlap: int) -> str:
    """The end of `unit` carried into the next passage: its last sentences within `overlap`
    tokens (the whole unit when it is that short; nothing when its last sentence is longer)."""
    if estimate_tokens(unit) <= overlap:
        return unit
    kept = ""
    for sentence in reversed(split_sentences(unit)):
        if estimate_tokens(sentence + kept) > overlap:
            break
        kept = sentence + kept
    return kept.strip()


def _passage(heading: str, units: list[str]) -> Passage:
    text = "\n\n".join(units)
    return Passage(heading, text, estimate_tokens(f"{heading}\n{text}"))
