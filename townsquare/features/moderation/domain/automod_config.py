"""The automod parts of the moderation section added by schema version 3: each rule's action,
points and exemptions, the new rules' thresholds, and custom word and regex rules.

A guild's stored version 2 document gets them with the defaults of :func:`upgrade_automod`.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, Self

from pydantic import Field, field_validator, model_validator

from townsquare.core.config.schemas import ChannelIds, ConfigModel, RoleIds
from townsquare.core.validation import Text
from townsquare.features.moderation.domain.regex import RegexRuleError, compile_rule

__all__ = [
    "MAX_CUSTOM_RULES",
    "MAX_DOMAINS",
    "MAX_PATTERNS",
    "RULE_NAMES",
    "AutomodRules",
    "CustomRule",
    "RuleSettings",
    "upgrade_automod",
]

MAX_CUSTOM_RULES: Final = 50
"""Custom rules a document may hold at all; the premium tier's limit is usually lower."""
MAX_PATTERNS: Final = 100
"""Words or patterns in one custom rule."""
MAX_DOMAINS: Final = 200

RULE_NAMES: Final = (
    "words",
    "invites",
    "links",
    "mentions",
    "caps",
    "emoji",
    "newlines",
    "spam",
    "duplicates",
    "mention_window",
)
"""The built-in rules, in the order they are checked: a message breaks at most one rule (the
first); custom rules are checked right after `words`."""

type RuleAction = Literal["delete", "warn", "points", "timeout"]


class RuleSettings(ConfigModel):
    """What breaking one rule does."""

    enabled: bool
    """Check this rule at all."""
    action: RuleAction
    """`delete` the message; `warn` (delete and warn the member); `points` (record the offense
    only, the message stays); `timeout` (delete and time the member out)."""
    points: Annotated[int, Field(ge=0, le=100)]
    """Offense points towards the escalation ladder (0: none, no case unless the action is one)."""
    timeout_seconds: Annotated[int, Field(ge=60, le=28 * 86_400)]
    """The timeout's length when `action` is `timeout`."""
    exempt_role_ids: RoleIds
    exempt_channel_ids: ChannelIds


class AutomodRules(ConfigModel):
    """Per built-in rule: its settings (thresholds stay where version 2 had them, plus new ones)."""

    words: RuleSettings
    invites: RuleSettings
    """Invite links to other servers (this server's own invites are fine)."""
    links: RuleSettings
    """Links, unless allowed by channel (`link_allowed_channel_ids`) or domain."""
    mentions: RuleSettings
    """More than `max_mentions` mentions in one message."""
    caps: RuleSettings
    emoji: RuleSettings
    newlines: RuleSettings
    spam: RuleSettings
    """`spam_messages` messages within `spam_window_seconds`."""
    duplicates: RuleSettings
    """The same text `duplicate_messages` times within `duplicate_window_seconds`, in any
    channels."""
    mention_window: RuleSettings
    """`window_mentions` mentions within `mention_window_seconds` over several messages."""


class CustomRule(ConfigModel):
    """A guild's own rule: words and phrases (with `*` wildcards) or RE2 regular expressions."""

    name: Annotated[Text, Field(min_length=1, max_length=50)]
    kind: Literal["words", "regex"]
    patterns: Annotated[
        list[Annotated[Text, Field(min_length=1, max_length=300)]],
        Field(min_length=1, max_length=MAX_PATTERNS),
    ]
    settings: RuleSettings

    @model_validator(mode="after")
    def _patterns_compile(self) -> Self:
        if self.kind == "regex":
            for pattern in self.patterns:
                try:
                    compile_rule(pattern)
                except RegexRuleError as error:
                    raise ValueError(str(error)) from None
        return self


Domains = Annotated[
    list[Annotated[Text, Field(min_length=3, max_length=253, pattern=r"^[a-z0-9.-]+$")]],
    Field(max_length=MAX_DOMAINS),
]


class AutomodExtras(ConfigModel):
    """Version 3's automod settings besides the rules' own (mixed into the automod section)."""

    rules: AutomodRules
    link_allowed_domains: Domains
    """Lowercase domains (and their subdomains) whose links are always fine."""
    link_denied_domains: Domains
    """Domains whose links are an offense even where links are allowed."""
    caps_percent: Annotated[int, Field(ge=50, le=100)]
    caps_min_length: Annotated[int, Field(ge=1, le=2000)]
    max_emoji: Annotated[int, Field(ge=1, le=200)]
    max_newlines: Annotated[int, Field(ge=1, le=200)]
    duplicate_messages: Annotated[int, Field(ge=2, le=50)]
    duplicate_window_seconds: Annotated[int, Field(ge=1, le=600)]
    window_mentions: Annotated[int, Field(ge=2, le=500)]
    mention_window_seconds: Annotated[int, Field(ge=1, le=600)]
    custom_rules: Annotated[list[CustomRule], Field(max_length=MAX_CUSTOM_RULES)]
    record_native: bool
    """Record Discord's own AutoMod actions as offenses (one ledger of points); the bot then
    asks for the AUTO_MODERATION_EXECUTION intent (when on in the guild defaults)."""
    native_points: Annotated[int, Field(ge=0, le=100)]
    """Points of one message Discord's AutoMod acted on."""

    def regex_rule_count(self) -> int:
        """Custom rules that match regular expressions (the premium limit `automod.regex_rules`)."""
        return sum(rule.kind == "regex" for rule in self.custom_rules)

    @field_validator("custom_rules")
    @classmethod
    def _unique_names(cls, rules: list[CustomRule]) -> list[CustomRule]:
        names = [rule.name.casefold() for rule in rules]
        if len(set(names)) != len(names):
            raise ValueError("two custom rules share a name")
        return rules


def _rule(
    action: RuleAction = "delete", points: int = 1, *, enabled: bool = True
) -> dict[str, Any]:
    return {
        "enabled": enabled,
        "action": action,
        "points": points,
        "timeout_seconds": 600,
        "exempt_role_ids": [],
        "exempt_channel_ids": [],
    }


def upgrade_automod(automod: dict[str, Any]) -> dict[str, Any]:
    """A version 2 automod section with version 3's settings (what version 2 did, kept; keys
    already present are kept too)."""
    return {
        "rules": {
            "words": _rule(),
            "invites": _rule(enabled=False),
            "links": _rule(),
            "mentions": _rule(),
            "caps": _rule(enabled=False),
            "emoji": _rule(enabled=False),
            "newlines": _rule(enabled=False),
            "spam": _rule(),
            "duplicates": _rule(enabled=False),
            "mention_window": _rule(enabled=False),
        },
        "link_allowed_domains": [],
        "link_denied_domains": [],
        "caps_percent": 70,
        "caps_min_length": 15,
        "max_emoji": 10,
        "max_newlines": 15,
        "duplicate_messages": 3,
        "duplicate_window_seconds": 60,
        "window_mentions": 15,
        "mention_window_seconds": 30,
        "custom_rules": [],
        "record_native": False,
        "native_points": 1,
        **automod,
    }
