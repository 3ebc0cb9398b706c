"""What the assistant posts: the answer's `[n]` citations resolved to sources, cut into
Discord messages of at most 2,000 characters on sentence boundaries."""

from __future__ import annotations

import dataclasses
import re
import typing

from townsquare.features.assistant.domain.chunking import split_sentences

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "MESSAGE_LIMIT",
    "Source",
    "cited_numbers",
    "split_message",
    "with_sources",
]

MESSAGE_LIMIT: typing.Final = 2000
"""Discord's limit on a message's content, in characters."""
_MARKER = re.compile(r"\[(\d{1,3})\]")


@dataclasses.dataclass(frozen=True, slots=True)
class Source:
    """A passage the model was given, as its citation shows it."""

    number: int
    """Its `[n]` in the prompt and the answer."""
    title: str
    url: str


def cited_numbers(text: str, available: int) -> list[int]:
    """The `[n]` markers in `text` that name one of the `available` sources, first use first."""
    seen: list[int] = []
    for match in _MARKER.finditer(text):
        number = int(match.group(1))
        if 1 <= number <= available and number not in seen:
            seen.append(number)
    return seen


def with_sources(answer: str, sources: Sequence[Source]) -> str:
    """`answer` followed by the sources it cites: `[n] title — <link>` (the angle brackets stop
    Discord from unfurling every link into an embed). Markers naming no source are removed."""
    by_number = {source.number: source for source in sources}
    cited = cited_numbers(answer, max(by_number, default=0))
    text = _MARKER.sub(lambda m: m.group(0) if int(m.group(1)) in by_number else "", answer).strip()
    if not cited:
        return text
    lines = [f"[{n}] {by_number[n].title} — <{by_number[n].url}>" for n in cited if n in by_number]
    return text + "\n\n**Sources**\n" + "\n".join(lines)


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut after a sentence where possible,
    else at a line break or a space, else anywhere (a 2,000-character word)."""
    pieces: list[str] = []
    current = ""
    for sentence in _sentences_and_lines(text):
        left = sentence
        while len(left) > limit:
            if current.strip():
                pieces.append(current.strip())
                current = ""
            cut = _soft_cut(left, limit)
            pieces.append(left[:cut].strip())
            left = left[cut:]
        if len(current) + len(left) > limit:
            pieces.append(current.strip())
            current = ""
        current += left
    if current.strip():
        pieces.append(current.strip())
    return [piece for piece in pieces if piece]


def _sentences_and_lines(text: str) -> list[str]:
    units: list[str] = []
    for line in text.splitlines(keepends=True):
        units.extend(split_sentences(line) or [line])
    return units


def _soft_cut(text: str, limit: int) -> int:
    window = text[:limit]
    for separator in ("\n", " "):
        at = window.rfind(separator)
        if at > limit // 2:
            return at + 1
    return limit
