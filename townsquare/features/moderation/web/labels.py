"""The moderation pages' words for the values they save, in one place (docs/dashboard.md).

Each tuple is (value, label) in the order a select shows them; the values are the schema's
(`ModerationSection`, `AutomodSection`, `CustomRule`), checked by
`tests/unit/http/test_config_forms.py`.
"""

from __future__ import annotations

import typing

__all__ = [
    "CASE_TYPE_LABELS",
    "CUSTOM_RULE_ACTION_LABELS",
    "CUSTOM_RULE_KIND_LABELS",
    "NUKE_ACTION_LABELS",
    "NUKE_BOT_ACTION_LABELS",
    "PRESET_LABELS",
    "RAID_ACTION_LABELS",
    "RULE_ACTION_LABELS",
    "RULE_LABELS",
]

RAID_ACTION_LABELS: typing.Final = (
    ("timeout", "A timeout"),
    ("kick", "A kick"),
    ("none", "Nothing (raid mode is only announced)"),
)
NUKE_ACTION_LABELS: typing.Final = (
    ("strip_roles", "Lose their roles that have dangerous permissions"),
    ("timeout", "A timeout"),
    ("kick", "A kick"),
)
NUKE_BOT_ACTION_LABELS: typing.Final = (
    ("kick", "Kicked from the server"),
    ("strip_roles", "Lose their roles that have dangerous permissions"),
)
RULE_ACTION_LABELS: typing.Final = (
    ("delete", "Delete the message"),
    ("warn", "Delete it and warn the member"),
    ("points", "Delete it and add offense points"),
    ("timeout", "Delete it and time the member out"),
)
RULE_LABELS: typing.Final = {
    "words": "Banned words",
    "invites": "Invites to other servers",
    "links": "Links",
    "mentions": "Too many mentions",
    "caps": "Shouting (mostly capital letters)",
    "emoji": "Too many emoji",
    "newlines": "Too many line breaks",
    "spam": "Spam (many messages quickly)",
    "duplicates": "The same message again and again",
    "mention_window": "Many mentions over a few messages",
}
"""Automod's built-in rules (`RULE_NAMES`), as the page names them."""
PRESET_LABELS: typing.Final = {
    "lenient": "Lenient: high thresholds, slow escalation",
    "standard": "Standard: the defaults",
    "strict": "Strict: low thresholds, fast escalation",
}
"""The presets (`PRESETS`), as the page names them (a preset without one shows its name)."""
CUSTOM_RULE_KIND_LABELS: typing.Final = {
    "words": "Words and phrases",
    "regex": "Regular expressions (advanced)",
}
"""The custom rules' kinds and actions, as their editor names them."""
CUSTOM_RULE_ACTION_LABELS: typing.Final = dict(RULE_ACTION_LABELS)
CASE_TYPE_LABELS: typing.Final = {
    "warn": "Warning",
    "timeout": "Timeout",
    "untimeout": "Timeout lifted",
    "kick": "Kick",
    "ban": "Ban",
    "unban": "Unban",
    "purge": "Messages purged",
    "note": "Note",
    "pardon": "Pardon",
    "offense": "Offense points",
    "delete": "Message deleted",
    "strip_roles": "Roles taken away",
}
"""The cases' types, as the cases page's filter names them."""
