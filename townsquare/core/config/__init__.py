"""Per-guild configuration: one pydantic schema per feature section, versioned as a document."""

from __future__ import annotations

from townsquare.core.config.schemas import (
    AISection,
    AlertsSection,
    AutomodSection,
    EscalationStep,
    GiveawaysSection,
    GuildConfig,
    LevelCurve,
    LevelsSection,
    ModerationSection,
    NoticeSection,
    VoiceXPSection,
    XPSection,
)

__all__ = [
    "AISection",
    "AlertsSection",
    "AutomodSection",
    "EscalationStep",
    "GiveawaysSection",
    "GuildConfig",
    "LevelCurve",
    "LevelsSection",
    "ModerationSection",
    "NoticeSection",
    "VoiceXPSection",
    "XPSection",
]
