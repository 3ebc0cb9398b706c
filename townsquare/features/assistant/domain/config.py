"""The assistant's guild configuration section, `ai` (defaults: `guild_defaults` in
settings.yaml), and its step from schema version 2 (which had no roles, guild rate limit or
indexed channels)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Final

from pydantic import Field

from townsquare.core.config.schemas import ChannelIds, ConfigSection, RoleIds, Upgrade, on_off

if TYPE_CHECKING:
    from townsquare.core.settings import Settings

__all__ = ["DEFAULT_GUILD_PER_MINUTE", "UPGRADES", "AISection", "assistant_reads_content"]

DEFAULT_GUILD_PER_MINUTE: Final = 30
"""Questions per guild per minute given to documents written before the limit existed."""


class AISection(ConfigSection):
    """The Gemini assistant."""

    key = "ai"

    enabled: bool
    """Answer questions in this guild at all."""
    channel_ids: ChannelIds
    """Channels where the assistant answers (`/ask` and mentions); empty means every channel."""
    role_ids: RoleIds
    """Members with any of these roles may ask; empty means every member."""
    requests_per_member_per_hour: Annotated[int, Field(ge=1, le=1000)]
    """Rate limit per member."""
    requests_per_guild_per_minute: Annotated[int, Field(ge=1, le=10_000)]
    """Rate limit for the whole guild."""
    max_output_tokens: Annotated[int, Field(ge=16, le=8192)]
    """Longest answer, in model tokens."""
    knowledge_channel_ids: ChannelIds
    """Channels (such as #rules and #faq) whose messages are part of the knowledge base."""

    def summary(self) -> list[tuple[str, str]]:
        return [
            ("AI", on_off(self.enabled)),
            ("AI questions per member per hour", str(self.requests_per_member_per_hour)),
        ]


def _from_version_2(document: dict[str, Any]) -> dict[str, Any]:
    """Version 3 added `ai.role_ids`, `ai.requests_per_guild_per_minute` and
    `ai.knowledge_channel_ids`: everyone could ask, no guild limit, nothing indexed."""
    section = document.get("ai")
    if not isinstance(section, dict):
        return document
    added = {
        "role_ids": [],
        "requests_per_guild_per_minute": DEFAULT_GUILD_PER_MINUTE,
        "knowledge_channel_ids": [],
    }
    return {**document, "ai": added | section}


UPGRADES: Final[dict[int, Upgrade]] = {2: _from_version_2}
"""The section's steps from each older schema version to the next."""


def assistant_reads_content(settings: Settings) -> bool:
    """The assistant reads message text (mentions, replies to its answers, indexed channels)
    when it is on for this deployment."""
    return settings.ai.enabled
