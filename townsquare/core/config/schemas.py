"""The schemas of a guild's configuration document.

Every section is strict: unknown keys are errors and every field is required, because the
defaults live in one place (`guild_defaults` in settings.yaml) and are validated by these same
models when the settings load. A stored document carries `schema_version`, and an older
document is brought forward when it is read (:data:`UPGRADES`), so stored rows, cached copies and
settings files written for an earlier schema keep working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from townsquare.core.validation import SNOWFLAKE_KEY_PATTERN, Snowflake, SnowflakeKey, Text

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "CURRENT_SCHEMA_VERSION",
    "MAX_BANNED_WORDS",
    "MAX_CHANNEL_IDS",
    "MAX_CURVE_TABLE",
    "MAX_ESCALATION_STEPS",
    "MAX_LEVEL",
    "MAX_MANAGER_ROLES",
    "MAX_ROLE_IDS",
    "UPGRADES",
    "AISection",
    "AlertsSection",
    "AutomodSection",
    "CommandsSection",
    "EscalationStep",
    "GiveawaysSection",
    "GuildConfig",
    "LevelCurve",
    "LevelsSection",
    "ModerationSection",
    "NoticeSection",
    "Snowflake",
    "VoiceXPSection",
    "XPSection",
]

CURRENT_SCHEMA_VERSION = 2

Multiplier = Annotated[float, Field(ge=0.0, le=10.0)]

MAX_LEVEL: Final = 10_000
"""The highest `xp.max_level` a guild may set."""
MAX_ROLE_IDS: Final = 250
"""Every list or map of roles: Discord's own limit of roles in a guild."""
MAX_CHANNEL_IDS: Final = 500
"""Every list or map of channels: Discord's own limit of channels in a guild."""
MAX_BANNED_WORDS: Final = 1000
"""Automod's banned words (each at most 100 characters, so at most ~100 KB)."""
MAX_CURVE_TABLE: Final = 1000
"""A `table` level curve's entries (the last one repeats for every higher level)."""
MAX_ESCALATION_STEPS: Final = 20
"""Rungs of the moderation escalation ladder."""
MAX_MANAGER_ROLES: Final = 25
"""Bot manager roles (the command access page lists them as checkboxes)."""

RoleIds = Annotated[list[Snowflake], Field(max_length=MAX_ROLE_IDS)]
ChannelIds = Annotated[list[Snowflake], Field(max_length=MAX_CHANNEL_IDS)]


def _keyed(limit: int) -> Any:
    """A map from ids to multipliers: JSON keys are decimal ids (the schema says so)."""
    return Field(
        max_length=limit, json_schema_extra={"propertyNames": {"pattern": SNOWFLAKE_KEY_PATTERN}}
    )


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class LevelCurve(_Section):
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


class VoiceXPSection(_Section):
    """XP for time spent in voice channels, with anti-AFK rules."""

    enabled: bool
    """Award voice XP at all."""
    xp_per_minute: Annotated[int, Field(ge=0, le=1000)]
    """XP per full minute in an eligible voice channel."""
    count_self_muted: bool
    """Whether self-muted members still earn voice XP."""
    min_members: Annotated[int, Field(ge=2, le=99)]
    """Non-bot, non-deafened members a channel needs before anyone in it earns."""


class XPSection(_Section):
    """Message XP and the level curve."""

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
    role_multipliers: Annotated[dict[SnowflakeKey, Multiplier], _keyed(MAX_ROLE_IDS)]
    """XP multiplier per role; the largest of a member's roles applies."""
    channel_multipliers: Annotated[dict[SnowflakeKey, Multiplier], _keyed(MAX_CHANNEL_IDS)]
    """XP multiplier per channel."""
    curve: LevelCurve
    """How much each level costs."""
    max_level: Annotated[int, Field(ge=1, le=MAX_LEVEL)]
    """Levels stop here; XP keeps counting."""
    voice: VoiceXPSection
    """Voice XP."""

    @model_validator(mode="after")
    def _range_is_ordered(self) -> Self:
        if self.per_message_min > self.per_message_max:
            raise ValueError("per_message_min must not be larger than per_message_max")
        return self


class NoticeSection(_Section):
    """Where and how a level-up is announced."""

    mode: Literal["current_channel", "channel", "dm", "off"]
    """Announce in the channel of the message, a fixed channel, by DM, or not at all."""
    channel_id: Snowflake | None
    """The fixed channel when `mode` is `channel`."""
    template: Annotated[Text, Field(min_length=1, max_length=1500)]
    """Message text; `{user}`, `{level}` and `{guild}` are replaced. Never pings roles."""

    @model_validator(mode="after")
    def _channel_mode_needs_channel(self) -> Self:
        if self.mode == "channel" and self.channel_id is None:
            raise ValueError("notice mode 'channel' needs a channel_id")
        return self


class LevelsSection(_Section):
    """Level-role rewards and level-up notices."""

    reward_mode: Literal["stack", "replace"]
    """`stack` keeps every earned reward role; `replace` keeps only the highest."""
    notice: NoticeSection
    """The level-up notice."""


class EscalationStep(_Section):
    """One rung of the escalation ladder: at `offenses` active offenses, take `action`."""

    offenses: Annotated[int, Field(ge=1, le=100)]
    """Active offense count at which this step applies."""
    action: Literal["warn", "timeout", "kick", "ban"]
    """What happens to the member."""
    duration_seconds: Annotated[int, Field(ge=0, le=28 * 86_400)]
    """Timeout length; Discord allows at most 28 days. Ignored for other actions."""


class AutomodSection(_Section):
    """Automatic checks on every message."""

    enabled: bool
    """Run automod at all."""
    banned_words: Annotated[
        list[Annotated[Text, Field(min_length=1, max_length=100)]],
        Field(max_length=MAX_BANNED_WORDS),
    ]
    """Words that are an offense, matched case-insensitively as whole words."""
    block_links: bool
    """Whether links are an offense (except in `link_allowed_channel_ids`)."""
    link_allowed_channel_ids: ChannelIds
    """Channels where links are fine."""
    max_mentions: Annotated[int, Field(ge=1, le=100)]
    """More user or role mentions than this in one message is an offense."""
    spam_messages: Annotated[int, Field(ge=2, le=100)]
    """This many messages ..."""
    spam_window_seconds: Annotated[int, Field(ge=1, le=600)]
    """... within this many seconds is spam."""
    exempt_role_ids: RoleIds
    """Members with any of these roles are never checked."""


class ModerationSection(_Section):
    """What happens after an offense."""

    log_channel_id: Snowflake | None
    """Channel that receives a log entry for every action; none when unset."""
    dm_members: bool
    """DM the member about every action taken against them."""
    offense_expiry_days: Annotated[int, Field(ge=1, le=3650)]
    """Offenses older than this no longer count towards escalation."""
    escalation: Annotated[list[EscalationStep], Field(max_length=MAX_ESCALATION_STEPS)]
    """The ladder, by ascending `offenses`."""
    automod: AutomodSection
    """Automatic checks."""

    @model_validator(mode="after")
    def _ladder_is_ascending(self) -> Self:
        counts = [step.offenses for step in self.escalation]
        if counts != sorted(set(counts)):
            raise ValueError("escalation steps need strictly ascending 'offenses'")
        return self


class GiveawaysSection(_Section):
    """Giveaway defaults."""

    claim_window_seconds: Annotated[int, Field(ge=30, le=7 * 86_400)]
    """How long a winner has to press the claim button before a reroll."""
    max_rerolls: Annotated[int, Field(ge=0, le=50)]
    """Rerolls after unclaimed wins before the giveaway ends without a winner."""


class AlertsSection(_Section):
    """Live alerts for Twitch, Kick and YouTube."""

    channel_id: Snowflake | None
    """Channel that receives live alerts; alerts are off when unset."""
    mention_role_id: Snowflake | None
    """Role pinged by a live alert; none when unset."""


class AISection(_Section):
    """The Gemini assistant."""

    enabled: bool
    """Answer questions in this guild at all."""
    channel_ids: ChannelIds
    """Channels where the assistant answers mentions; empty means every channel."""
    requests_per_member_per_hour: Annotated[int, Field(ge=1, le=1000)]
    """Rate limit per member."""
    max_output_tokens: Annotated[int, Field(ge=16, le=8192)]
    """Longest answer, in model tokens."""


class CommandsSection(_Section):
    """Who may use the bot's management commands (`/xp ...`, `/config show`)."""

    manager_role_ids: Annotated[list[Snowflake], Field(max_length=MAX_MANAGER_ROLES)]
    """Members with any of these roles may use them, besides members with Manage Server or
    Administrator (and the owner), who always may."""

    @field_validator("manager_role_ids")
    @classmethod
    def _no_repeats(cls, role_ids: list[int]) -> list[int]:
        if len(set(role_ids)) != len(role_ids):
            raise ValueError("a role is listed twice")
        return role_ids


def _from_version_1(document: dict[str, Any]) -> dict[str, Any]:
    """Version 2 added the `commands` section; nobody had manager roles before."""
    if "commands" in document:
        raise ValueError("a version 1 document has no 'commands' section (that is version 2)")
    return {**document, "commands": {"manager_role_ids": []}}


UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _from_version_1}
"""From each older schema version to the next one."""


class GuildConfig(BaseModel):
    """A guild's whole configuration document."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    schema_version: Literal[2]
    """The version of this schema the document was written with."""
    xp: XPSection
    levels: LevelsSection
    moderation: ModerationSection
    giveaways: GiveawaysSection
    alerts: AlertsSection
    ai: AISection
    commands: CommandsSection

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """Bring a document written for an older schema version forward, one step at a time."""
        if not isinstance(data, dict):
            return data
        version = data.get("schema_version")
        while type(version) is int and version in UPGRADES:  # not True, which is 1 too
            data = UPGRADES[version](data) | {"schema_version": version + 1}
            version += 1
        return data
