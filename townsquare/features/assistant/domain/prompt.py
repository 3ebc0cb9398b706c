"""The prompt: a system instruction, the conversation so far, and the question with the
numbered passages, packed within the prompt's token budget.

The question and the conversation come first in the budget: the oldest turns go first when
they do not fit, and a question that does not fit alone is refused with a reason. Passages are
then added by rank until the budget is full, each numbered `[n]` for the answer to cite.

The last user turn has one layout, which the sandbox's loopback model reads too:

    Passages:
    [1] <title> — <heading>
    <text>

    Question: <question>
"""

from __future__ import annotations

import dataclasses
import typing

from townsquare.features.assistant.domain.chunking import estimate_tokens
from townsquare.features.assistant.domain.gemini import Turn

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    from townsquare.features.assistant.domain.retrieval import Found

__all__ = [
    "NO_PASSAGES",
    "Exchange",
    "Prompt",
    "PromptTooLong",
    "build_prompt",
    "server_named",
    "system_instruction",
    "without_last_passage",
]

NO_PASSAGES: typing.Final = "(none: nothing in this server's knowledge base matches the question)"


class PromptTooLong(ValueError):
    """The question (and what it must carry) does not fit the model's input budget."""


@dataclasses.dataclass(frozen=True, slots=True)
class Exchange:
    """One earlier question and its answer, for reply-to-continue."""

    question: str
    answer: str


@dataclasses.dataclass(frozen=True, slots=True)
class Prompt:
    system: str
    turns: tuple[Turn, ...]
    passages: tuple[Found, ...]
    """The passages given, in their `[n]` order."""
    estimated_tokens: int


def server_named(guild_name: str) -> str:
    """How the instructions name the guild."""
    return f'the Discord server "{guild_name}"' if guild_name else "a Discord server"


def system_instruction(guild_name: str) -> str:
    """What the model is told about its job, whatever the question."""
    return (
        f"You are the assistant of {server_named(guild_name)}. Answer the member's question "
        "using only the numbered passages from the server's knowledge base given with it. "
        "Cite every fact with the passage's marker, like [1]. If the passages do not contain "
        "the answer, say plainly that you don't know; never guess or use outside knowledge. "
        "Answer briefly, in the language of the question, without mentioning members or roles."
    )


def _question_turn(question: str, passages: Sequence[Found]) -> str:
    if passages:
        blocks = [
            f"[{number}] {p.title}{f' — {p.heading}' if p.heading else ''}\n{p.text}"
            for number, p in enumerate(passages, start=1)
        ]
        listed = "\n\n".join(blocks)
    else:
        listed = NO_PASSAGES
    return f"Passages:\n{listed}\n\nQuestion: {question}"


def build_prompt(
    guild_name: str,
    question: str,
    history: Sequence[Exchange],
    passages: Sequence[Found],
    *,
    max_tokens: int,
) -> Prompt:
    """The prompt within `max_tokens` (estimated), or :class:`PromptTooLong`."""
    system = system_instruction(guild_name)
    fixed = estimate_tokens(system) + estimate_tokens(_question_turn(question, ()))
    if fixed > max_tokens:
        raise PromptTooLong(
            f"The question is too long for the assistant (about {fixed:,} tokens with its "
            f"instructions; at most {max_tokens:,}). Please shorten it."
        )
    kept: list[Exchange] = []
    used = fixed
    for exchange in reversed(history):  # the latest turns matter most
        cost = estimate_tokens(exchange.question) + estimate_tokens(exchange.answer)
        if used + cost > max_tokens:
            break
        kept.insert(0, exchange)
        used += cost
    chosen: list[Found] = []
    for passage in passages:  # best first
        cost = estimate_tokens(f"[{len(chosen) + 1}] {passage.title} — {passage.heading}\n")
        cost += passage.tokens
        if used + cost > max_tokens:
            continue  # a shorter, lower-ranked passage may still fit
        chosen.append(passage)
        used += cost
    turns: list[Turn] = []
    for exchange in kept:
        turns += [Turn("user", exchange.question), Turn("model", exchange.answer)]
    turns.append(Turn("user", _question_turn(question, chosen)))
    return Prompt(system, tuple(turns), tuple(chosen), used)


def without_last_passage(prompt: Prompt, question: str) -> Prompt:
    """`prompt` less its lowest-ranked passage (when the model counts more than estimated)."""
    passages = prompt.passages[:-1]
    last = Turn("user", _question_turn(question, passages))
    dropped = prompt.passages[-1].tokens if prompt.passages else 0
    return dataclasses.replace(
        prompt,
        turns=(*prompt.turns[:-1], last),
        passages=passages,
        estimated_tokens=prompt.estimated_tokens - dropped,
    )
