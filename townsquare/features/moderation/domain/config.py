"""Moderation's configuration section, `moderation` (defaults: `guild_defaults`, settings.yaml)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, Literal, Self

from pydantic import Field, model_validator

from townsquare.core.config.schemas import (
    ChannelIds,
    ConfigModel,
    ConfigSection,
    Names,
    RoleIds,
    on_off,
)
from townsquare.core.validation import Snowflake, Text
from townsquare.features.moderation.domain.automod_config import AutomodExtras, upgrade_automod
from townsquare.features.moderation.domain.presets import matches_preset

if TYPE_CHECKING:
    from townsquare.core.config.schemas import Upgrade
    from townsquare.core.settings import Settings

__all__ = [
    "ANTI_NUKE_DEFAULTS",
    "ANTI_RAID_OFF",
    "CUSTOM_RULES_LIMIT",
    "MAX_BANNED_WORDS",
    "MAX_ESCALATION_STEPS",
    "REGEX_RULES_LIMIT",
    "UPGRADES",
    "AntiAbuse",
    "AntiNuke",
    "AntiNukeLimits",
    "AntiRaid",
    "AutomodSection",
    "EscalationStep",
    "ModerationSection",
    "ModeratorRoles",
    "anti_nuke_reads_audit_log",
    "anti_raid_reads_joins",
    "automod_reads_content",
    "records_native_automod",
]

CUSTOM_RULES_LIMIT: Final = "automod.custom_rules"
REGEX_RULES_LIMIT: Final = "automod.regex_rules"
MAX_BANNED_WORDS: Final = 1000
"""Automod's banned words (each at most 100 characters, so at most ~100 KB)."""
MAX_ESCALATION_STEPS: Final = 20
"""Rungs of the moderation escalation ladder."""


class EscalationStep(ConfigModel):
    """One rung of the escalation ladder: at `offenses` active offenses, take `action`."""

    offenses: Annotated[int, Field(ge=1, le=100)]
    """Active offense count at which this step applies."""
    action: Literal["warn", "timeout", "kick", "ban"]
    """What happens to the member."""
    duration_seconds: Annotated[int, Field(ge=0, le=28 * 86_400)]
    """Timeout length; Discord allows at most 28 days. Ignored for other actions."""


class AutomodSection(AutomodExtras):
    """Automatic checks on every message (the rules' own settings: :class:`AutomodExtras`)."""

    enabled: bool
    """Run automod at all."""
    banned_words: Annotated[
        list[Annotated[Text, Field(min_length=1, max_length=100)]],
        Field(max_length=MAX_BANNED_WORDS),
    ]
    """Words and phrases that are an offense, matched as whole words over normalised text
    (case-folded, NFKC, zero-width characters removed, confusables and leetspeak folded);
    `*` matches any run of letters (`scam*`)."""
    block_links: bool
    """Whether links are an offense (except in `link_allowed_channel_ids` and to
    `link_allowed_domains`); links to `link_denied_domains` always are."""
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


class ModeratorRoles(ConfigModel):
    """Roles whose members may take each action without its Discord permission."""

    warn: RoleIds
    """`/warn` and `/pardon`."""
    timeout: RoleIds
    """`/timeout` and `/untimeout`."""
    kick: RoleIds
    ban: RoleIds
    """`/ban` and `/unban`."""
    purge: RoleIds
    note: RoleIds


class AntiAbuse(ConfigModel):
    """Per moderator: more than `max_actions` kicks and bans within `window_seconds` blocks
    their kicks and bans for `cooldown_seconds`, and alerts the owner and the log channel."""

    max_actions: Annotated[int, Field(ge=1, le=100)]
    window_seconds: Annotated[int, Field(ge=10, le=3600)]
    cooldown_seconds: Annotated[int, Field(ge=60, le=7 * 86_400)]
    trusted_user_ids: Annotated[list[Snowflake], Field(max_length=50)]
    """Exempt from the limit (the owner always is)."""


class AntiRaid(ConfigModel):
    """More than `joins` joins within `window_seconds` starts raid mode: an alert, and joiners
    whose account is younger than `account_age_days` get `action`; it ends after
    `quiet_seconds` without a join, with a summary in the log channel."""

    enabled: bool
    """Watch joins at all (the bot then needs Discord's privileged Server Members intent)."""
    joins: Annotated[int, Field(ge=2, le=1000)]
    window_seconds: Annotated[int, Field(ge=1, le=600)]
    account_age_days: Annotated[int, Field(ge=0, le=3650)]
    """Accounts younger than this are acted on during raid mode (0: every joiner)."""
    action: Literal["timeout", "kick", "none"]
    timeout_seconds: Annotated[int, Field(ge=60, le=28 * 86_400)]
    quiet_seconds: Annotated[int, Field(ge=30, le=86_400)]
    raise_verification: bool
    """Raise the server's verification level to High during raid mode (the bot needs Manage
    Server), and put the previous level back when it ends."""


_Limit = Annotated[int, Field(ge=1, le=100)]


class AntiNukeLimits(ConfigModel):
    """Per action: more than this many by one actor within the window trips anti-nuke."""

    channel_delete: _Limit
    channel_create: _Limit
    role_delete: _Limit
    role_create: _Limit
    ban: _Limit
    kick: _Limit
    webhook_create: _Limit
    bot_add: _Limit
    """Bots (integrations) added to the server."""


class AntiNuke(ConfigModel):
    """Watches the audit log: anyone (human or bot, but the owner, the bot itself and
    `trusted_user_ids`) making more than a limit's destructive changes within
    `window_seconds` loses their dangerous roles (or is timed out or kicked: `action`; a bot is
    dealt `bot_action`); the owner is DMed and the log channel told, once per trip."""

    enabled: bool
    """Watch the audit log at all (the bot then needs View Audit Log)."""
    window_seconds: Annotated[int, Field(ge=1, le=3600)]
    limits: AntiNukeLimits
    action: Literal["strip_roles", "timeout", "kick"]
    """What happens to a member who trips it (Discord cannot time out an administrator)."""
    bot_action: Literal["kick", "strip_roles"]
    """What happens to a bot that trips it (a bot's own managed role cannot be taken away)."""
    timeout_seconds: Annotated[int, Field(ge=60, le=28 * 86_400)]
    cooldown_seconds: Annotated[int, Field(ge=60, le=7 * 86_400)]
    """After a trip, the actor's further changes are not acted on again for this long."""
    trusted_user_ids: Annotated[list[Snowflake], Field(max_length=50)]
    """Never counted (the owner and the bot never are)."""


class ModerationSection(ConfigSection):
    """What happens after an offense."""

    key = "moderation"
    premium_counts: ClassVar[Mapping[str, Callable[[Any], int]]] = {
        CUSTOM_RULES_LIMIT: lambda section: len(section.automod.custom_rules),
        REGEX_RULES_LIMIT: lambda section: section.automod.regex_rule_count(),
    }

    log_channel_id: Annotated[Snowflake | None, Names("text_channel")]
    """Channel that receives a log entry for every action; none when unset."""
    dm_members: bool
    """DM the member about every action taken against them."""
    offense_expiry_days: Annotated[int, Field(ge=1, le=3650)]
    """Offenses older than this no longer count towards escalation."""
    escalation: Annotated[list[EscalationStep], Field(max_length=MAX_ESCALATION_STEPS)]
    """The ladder, by ascending `offenses`."""
    automod: AutomodSection
    """Automatic checks."""
    dry_run: bool
    """Decide and record every action, execute none: the log channel says "would have"."""
    appeal_text: Annotated[Text, Field(max_length=1000)]
    """Told to members in the DM about an action against them (how to appeal); none when empty."""
    warn_points: Annotated[int, Field(ge=0, le=100)]
    """Offense points of a manual `/warn`."""
    points_half_life_days: Annotated[int, Field(ge=1, le=3650)] | None
    """When set, an offense's points also halve every this many days (whole periods)."""
    preset: Literal["lenient", "standard", "strict", "custom"]
    """The preset the ladder and thresholds were last set from (`custom` once changed by hand)."""
    moderator_roles: ModeratorRoles
    anti_abuse: AntiAbuse
    anti_raid: AntiRaid
    anti_nuke: AntiNuke

    def summary(self) -> list[tuple[str, str]]:
        return [
            (
                "Moderation",
                f"automod {on_off(self.automod.enabled)} · {len(self.escalation)} escalation steps",
            )
        ]

    @model_validator(mode="after")
    def _ladder_is_ascending(self) -> Self:
        counts = [step.offenses for step in self.escalation]
        if counts != sorted(set(counts)):
            raise ValueError("escalation steps need strictly ascending 'offenses'")
        timeouts = [s.duration_seconds for s in self.escalation if s.action == "timeout"]
        if timeouts != sorted(set(timeouts)) or 0 in timeouts:
            raise ValueError("the ladder's timeouts must be longer than 0 and grow with each step")
        return self

    @model_validator(mode="after")
    def _preset_follows_the_values(self) -> Self:
        """A ladder or threshold changed by hand (dashboard, API, file) makes the preset
        `custom`, whichever path saved it: the page never names a preset the guild left."""
        if self.preset != "custom" and not matches_preset(self, self.preset):
            object.__setattr__(self, "preset", "custom")
        return self


def _from_version_2(document: dict[str, Any]) -> dict[str, Any]:
    """Version 3 added the guard's settings, the automod rules' actions and the new rules,
    with what version 2 did as their defaults (keys already present are kept)."""
    moderation = document["moderation"]
    added = {
        "dry_run": False,
        "appeal_text": "",
        "warn_points": 1,
        "points_half_life_days": None,
        "preset": "custom",
        "moderator_roles": {k: [] for k in ModeratorRoles.model_fields},
        "anti_abuse": {
            "max_actions": 5,
            "window_seconds": 60,
            "cooldown_seconds": 600,
            "trusted_user_ids": [],
        },
        "anti_raid": ANTI_RAID_OFF,
    }
    automod = moderation.get("automod")
    if isinstance(automod, dict):
        added["automod"] = upgrade_automod(automod)
    return {
        **document,
        "moderation": {**added, **moderation, "automod": added.get("automod", automod)},
    }


def _from_version_3(document: dict[str, Any]) -> dict[str, Any]:
    """Version 4 added `anti_nuke`, off with the defaults (a key already present is kept)."""
    moderation = document.get("moderation")
    if not isinstance(moderation, dict):
        return document
    return {**document, "moderation": {"anti_nuke": ANTI_NUKE_DEFAULTS, **moderation}}


UPGRADES: Final[dict[int, Upgrade]] = {2: _from_version_2, 3: _from_version_3}
"""Moderation's steps forward: from version 2 to 3, and 3 to 4."""


ANTI_RAID_OFF: Final[dict[str, Any]] = {
    "enabled": False,
    "joins": 10,
    "window_seconds": 10,
    "account_age_days": 7,
    "action": "timeout",
    "timeout_seconds": 3600,
    "quiet_seconds": 300,
    "raise_verification": False,
}
"""Anti-raid's defaults, off (the privileged intent is a deployment's choice)."""


ANTI_NUKE_DEFAULTS: Final[dict[str, Any]] = {
    "enabled": False,
    "window_seconds": 30,
    "limits": {
        "channel_delete": 2,
        "channel_create": 4,
        "role_delete": 2,
        "role_create": 4,
        "ban": 3,
        "kick": 3,
        "webhook_create": 2,
        "bot_add": 1,
    },
    "action": "strip_roles",
    "bot_action": "kick",
    "timeout_seconds": 86_400,
    "cooldown_seconds": 600,
    "trusted_user_ids": [],
}
"""Anti-nuke's defaults (docs/moderation.md says why each), off: the bot needs View Audit Log."""


def anti_nuke_reads_audit_log(settings: Settings) -> bool:
    """Anti-nuke needs the audit log's entries when it is on in the guild defaults."""
    return settings.guild_defaults.section(ModerationSection).anti_nuke.enabled


def anti_raid_reads_joins(settings: Settings) -> bool:
    """Anti-raid needs member joins when it is on in the guild defaults."""
    return settings.guild_defaults.section(ModerationSection).anti_raid.enabled


def records_native_automod(settings: Settings) -> bool:
    """Discord's AutoMod actions are recorded when `record_native` is on in the defaults."""
    return settings.guild_defaults.section(ModerationSection).automod.record_native


def automod_reads_content(settings: Settings) -> bool:
    """Automod reads message text when it is on in the guild defaults (new guilds' config)."""
    return settings.guild_defaults.section(ModerationSection).automod.enabled
