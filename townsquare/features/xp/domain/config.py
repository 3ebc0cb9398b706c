"""XP's configuration sections: `xp` (message and voice XP, the level curve) and `levels`
(level-role rewards, level-up notices, the public leaderboard page). Defaults:
`guild_defaults` in settings.yaml. Schema version 5 added `levels.public_leaderboard`
(:data:`UPGRADES`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Final, Literal, Self

from pydantic import Field, model_validator

from townsquare.core.config.schemas import (
    MAX_CHANNEL_IDS,
    MAX_ROLE_IDS,
    ChannelIds,
    ConfigModel,
    ConfigSection,
    Names,
    RoleIds,
    Upgrade,
    keyed,
    on_off,
)
from townsquare.core.validation import Snowflake, SnowflakeKey, Text

__all__ = [
    "MAX_CURVE_TABLE",
    "MAX_LEVEL",
    "MULTIPLIER_RULES_LIMIT",
    "UPGRADES",
    "LevelCurve",
    "LevelsSection",
    "NoticeSection",
    "VoiceXPSection",
    "XPSection",
]

Multiplier = Annotated[float, Field(ge=0.0, le=10.0)]

MAX_LEVEL: Final = 10_000
"""The highest `xp.max_level` a guild may set."""
MULTIPLIER_RULES_LIMIT: Final = "xp.multiplier_rules"
"""The premium limit on role and channel multipliers together (core/premium.py)."""
MAX_CURVE_TABLE: Final = 1000
"""A `table` level curve's entries (the last one repeats for every higher level)."""


class LevelCurve(ConfigModel):
    """How much XP each level costs."""

    kind: Literal["mee6", "linear", "table"]
    """`mee6`: 5L^2 + 50L + 100 from level L to L+1; `linear`: `linear_step` per level;
    `table`: `table[L]` from level L to L+1."""
    linear_step: Annotated[int, Field(ge=1, le=10**12)]
    """XP per level when `kind` is `linear`."""
    table: Annotated[
        list[Annotated[int, Field(ge=1, le=10**12)]], Field(max_length=MAX_CURVE_TABLE)
    ]
    """XP from level L to L+1 when `kind` is `table`; the last entry repeats."""

    @model_validator(mode="after")
    def _table_needs_entries(self) -> Self:
        if self.kind == "table" and not self.table:
            raise ValueError("a 'table' level curve needs at least one entry in 'table'")
        return self


class VoiceXPSection(ConfigModel):
    """XP for time spent in voice channels, with anti-AFK rules."""

    enabled: bool
    """Award voice XP at all."""
    xp_per_minute: Annotated[int, Field(ge=0, le=1000)]
    """XP per full minute in an eligible voice channel."""
    count_self_muted: bool
    """Whether self-muted members still earn voice XP."""
    min_members: Annotated[int, Field(ge=2, le=99)]
    """Non-bot, non-deafened members a channel needs before anyone in it earns."""


class XPSection(ConfigSection):
    """Message XP and the level curve."""

    key = "xp"
    premium_counts: ClassVar[Mapping[str, Callable[[Any], int]]] = {
        MULTIPLIER_RULES_LIMIT: lambda section: section.multiplier_rules()
    }

    enabled: bool
    """Award XP at all."""
    per_message_min: Annotated[int, Field(ge=0, le=1000)]
    """Smallest XP one message can award."""
    per_message_max: Annotated[int, Field(ge=0, le=1000)]
    """Largest XP one message can award."""
    cooldown_seconds: Annotated[int, Field(ge=0, le=86_400)]
    """Seconds after an awarded message during which a member's messages earn nothing."""
    no_xp_channel_ids: ChannelIds
    """Channels where messages earn nothing."""
    no_xp_role_ids: RoleIds
    """Members with any of these roles earn nothing."""
    role_multipliers: Annotated[dict[SnowflakeKey, Multiplier], keyed(MAX_ROLE_IDS), Names("role")]
    """XP multiplier per role; the largest of a member's roles applies."""
    channel_multipliers: Annotated[
        dict[SnowflakeKey, Multiplier], keyed(MAX_CHANNEL_IDS), Names("channel")
    ]
    """XP multiplier per channel."""
    curve: LevelCurve
    """How much each level costs."""
    max_level: Annotated[int, Field(ge=1, le=MAX_LEVEL)]
    """Levels stop here; XP keeps counting."""
    voice: VoiceXPSection
    """Voice XP."""

    def summary(self) -> list[tuple[str, str]]:
        return [
            (
                "XP",
                f"{on_off(self.enabled)} · {self.per_message_min}-{self.per_message_max} a "
                f"message · cooldown {self.cooldown_seconds} s · {self.curve.kind} curve to "
                f"level {self.max_level}",
            ),
            ("Voice XP", f"{on_off(self.voice.enabled)} · {self.voice.xp_per_minute} a minute"),
        ]

    @model_validator(mode="after")
    def _range_is_ordered(self) -> Self:
        if self.per_message_min > self.per_message_max:
            raise ValueError("per_message_min must not be larger than per_message_max")
        return self

    def multiplier_rules(self) -> int:
        """Role and channel multipliers together (the premium limit `xp.multiplier_rules`)."""
        return len(self.role_multipliers) + len(self.channel_multipliers)

    def with_multiplier_rules(self, limit: int | bool | None) -> Self:
        """This section with only the first `limit` multiplier rules, roles before channels,
        in the order they were added: the rest are paused past the tier's limit."""
        if limit is None or isinstance(limit, bool) or self.multiplier_rules() <= limit:
            return self
        rules = [("role", k, v) for k, v in self.role_multipliers.items()]
        rules += [("channel", k, v) for k, v in self.channel_multipliers.items()]
        kept = rules[: max(0, limit)]
        return self.model_copy(
            update={
                "role_multipliers": {k: v for kind, k, v in kept if kind == "role"},
                "channel_multipliers": {k: v for kind, k, v in kept if kind == "channel"},
            }
        )


class NoticeSection(ConfigModel):
    """Where and how a level-up is announced."""

    mode: Literal["current_channel", "channel", "dm", "off"]
    """Announce in the channel of the message, a fixed channel, by DM, or not at all."""
    channel_id: Annotated[Snowflake | None, Names("text_channel")]
    """The fixed channel when `mode` is `channel`."""
    template: Annotated[Text, Field(min_length=1, max_length=1500)]
    """Message text; `{user}`, `{level}` and `{guild}` are replaced. Never pings roles."""

    @model_validator(mode="after")
    def _channel_mode_needs_channel(self) -> Self:
        if self.mode == "channel" and self.channel_id is None:
            raise ValueError("notice mode 'channel' needs a channel_id")
        return self


class LevelsSection(ConfigSection):
    """Level-role rewards, level-up notices and the public leaderboard page."""

    key = "levels"

    reward_mode: Literal["stack", "replace"]
    """`stack` keeps every earned reward role; `replace` keeps only the highest."""
    notice: NoticeSection
    """The level-up notice."""
    public_leaderboard: bool
    """Whether anyone may open the guild's leaderboard page, `/leaderboard/<guild id>`
    (members' names, avatars, levels and XP); off, the page does not exist (404)."""

    def summary(self) -> list[tuple[str, str]]:
        return [
            ("Level-ups", f"rewards {self.reward_mode} · notices {self.notice.mode}"),
            ("Public leaderboard page", on_off(self.public_leaderboard)),
        ]


def _from_version_4(document: dict[str, Any]) -> dict[str, Any]:
    """Version 5 added `levels.public_leaderboard`: off, as it was (there was no page)."""
    levels = document.get("levels")
    if not isinstance(levels, dict):
        return document  # written without XP: the section starts from the defaults
    return {**document, "levels": {**levels, "public_leaderboard": False}}


UPGRADES: Final[dict[int, Upgrade]] = {4: _from_version_4}
"""The sections' steps from each older schema version to the next."""
