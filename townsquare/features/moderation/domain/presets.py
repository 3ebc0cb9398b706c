"""The escalation presets: `lenient`, `standard` (the defaults) and `strict`.

A preset sets the ladder and the spam and mention thresholds; everything else (words, roles,
channels, exemptions) stays as the guild set it. Chosen on the dashboard's moderation page.
"""

from __future__ import annotations

import typing

if typing.TYPE_CHECKING:
    from townsquare.features.moderation.domain.config import ModerationSection

__all__ = ["PRESETS", "apply_preset", "matches_preset"]

type PresetName = typing.Literal["lenient", "standard", "strict"]

_STEP = dict[str, object]


def _ladder(*steps: tuple[int, str, int]) -> list[_STEP]:
    return [{"offenses": n, "action": a, "duration_seconds": d} for n, a, d in steps]


PRESETS: typing.Final[dict[str, dict[str, typing.Any]]] = {
    "lenient": {
        "escalation": _ladder(
            (3, "warn", 0), (6, "timeout", 600), (10, "timeout", 3600), (15, "kick", 0)
        ),
        "automod": {"spam_messages": 8, "spam_window_seconds": 5, "max_mentions": 10},
    },
    "standard": {
        "escalation": _ladder(
            (1, "warn", 0),
            (3, "timeout", 600),
            (5, "timeout", 86_400),
            (7, "kick", 0),
            (10, "ban", 0),
        ),
        "automod": {"spam_messages": 5, "spam_window_seconds": 5, "max_mentions": 5},
    },
    "strict": {
        "escalation": _ladder(
            (1, "warn", 0),
            (2, "timeout", 3600),
            (3, "timeout", 86_400),
            (4, "kick", 0),
            (5, "ban", 0),
        ),
        "automod": {"spam_messages": 4, "spam_window_seconds": 5, "max_mentions": 4},
    },
}
"""Each preset's ladder (points -> action) and automod thresholds (docs/moderation.md)."""


def apply_preset(section: ModerationSection, name: PresetName) -> ModerationSection:
    """`section` with the preset's ladder and thresholds, and `preset` set to its name."""
    preset = PRESETS[name]
    document = section.model_dump(mode="json")
    document["escalation"] = preset["escalation"]
    document["automod"] = {**document["automod"], **preset["automod"]}
    document["preset"] = name
    return type(section).model_validate(document)


def matches_preset(section: ModerationSection, name: str) -> bool:
    """Whether the section's ladder and thresholds are exactly the preset's."""
    preset = PRESETS[name]
    automod = section.automod.model_dump(mode="json")
    return [step.model_dump(mode="json") for step in section.escalation] == preset[
        "escalation"
    ] and all(automod[key] == value for key, value in preset["automod"].items())
