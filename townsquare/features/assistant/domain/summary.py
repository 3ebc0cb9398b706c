"""`/summarize [count]`: a channel's recent messages, summarised by the model for moderators.

The transcript is the channel's last `count` messages, oldest first, as `name: text` lines;
when it does not fit the prompt's budget the oldest lines go first.
"""

from __future__ import annotations

import typing

from townsquare.features.assistant.domain.chunking import estimate_tokens
from townsquare.features.assistant.domain.gemini import Turn
from townsquare.features.assistant.domain.prompt import Prompt, server_named

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "DEFAULT_SUMMARY_MESSAGES",
    "MAX_SUMMARY_MESSAGES",
    "NOTHING_TO_SUMMARIZE",
    "summary_prompt",
]

DEFAULT_SUMMARY_MESSAGES: typing.Final = 50
MAX_SUMMARY_MESSAGES: typing.Final = 100
"""Discord's most messages per history request: one REST call per summary."""
NOTHING_TO_SUMMARIZE: typing.Final = "There are no messages with text to summarize here."


def _system(guild_name: str) -> str:
    return (
        f"You summarise a channel of {server_named(guild_name)} for its moderators. Write a "
        "short neutral summary of the conversation below: the topics, decisions and open "
        "questions, and anything a moderator should look at. Do not mention members with @."
    )


def summary_prompt(guild_name: str, lines: Sequence[str], *, max_tokens: int) -> Prompt | None:
    """The prompt for `lines` (oldest first), the oldest dropped to fit; None if none fit."""
    system = _system(guild_name)
    budget = max_tokens - estimate_tokens(system) - 20
    kept: list[str] = []
    for line in reversed(lines):
        cost = estimate_tokens(line) + 1
        if cost > budget:
            break
        kept.insert(0, line)
        budget -= cost
    if not kept:
        return None
    transcript = "Summarise these messages:\n\n" + "\n".join(kept)
    return Prompt(system, (Turn("user", transcript),), (), max_tokens - budget)
