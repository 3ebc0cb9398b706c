"""The dashboard's config forms: which fields each page has, and form <-> document.

A page edits one section of the guild's configuration (`GuildConfig`); each :class:`FormField`
names a dotted path inside it. :func:`form_values` turns the document into what the form
shows, :func:`apply_form` a posted form back into a whole new document (validated by the
schema); the picked roles and channels are then checked as the API checks them
(`config_changes.reference_problems`), and :func:`page_errors` puts those errors beside the
fields.
"""

from __future__ import annotations

import dataclasses
import re
import typing

from townsquare.core.config.schemas import GuildConfig

if typing.TYPE_CHECKING:
    from werkzeug.datastructures import MultiDict

    from townsquare.core.config.service import VersionedConfig

__all__ = [
    "COMMANDS_FORM",
    "LEVELS_FORM",
    "PAGES",
    "XP_FORM",
    "FormField",
    "apply_form",
    "entries_to_fields",
    "form_values",
    "page_errors",
    "submitted_value",
]


@dataclasses.dataclass(frozen=True, slots=True)
class FormField:
    """One input: `name` is the dotted path inside the config section."""

    name: str
    label: str
    kind: typing.Literal[
        "int",
        "bool",
        "choice",
        "text",
        "textarea",
        "optional_int",
        "role_list",
        "channel",
    ]
    choices: tuple[str, ...] = ()
    help: str = ""


XP_FORM: typing.Final = (
    FormField("enabled", "Award XP for messages", "bool"),
    FormField("per_message_min", "Smallest XP per message", "int"),
    FormField("per_message_max", "Largest XP per message", "int"),
    FormField(
        "cooldown_seconds",
        "Cooldown (seconds)",
        "int",
        help="messages after an award earn nothing for this long",
    ),
    FormField("max_level", "Highest level", "int"),
    FormField("curve.kind", "Level curve", "choice", ("mee6", "linear", "table")),
    FormField("curve.linear_step", "XP per level (linear curve)", "int"),
    FormField("voice.enabled", "Award XP in voice channels", "bool"),
    FormField("voice.xp_per_minute", "Voice XP per minute", "int"),
    FormField("voice.count_self_muted", "Self-muted members earn voice XP", "bool"),
    FormField("voice.min_members", "Members a voice channel needs", "int"),
)
LEVELS_FORM: typing.Final = (
    FormField(
        "reward_mode",
        "Reward roles a member keeps",
        "choice",
        ("stack", "replace"),
        "stack keeps every reward role; replace keeps only the highest",
    ),
    FormField(
        "notice.mode", "Level-up notice", "choice", ("current_channel", "channel", "dm", "off")
    ),
    FormField(
        "notice.channel_id",
        "Notice channel",
        "channel",
        help="needed when the notice goes to a channel",
    ),
    FormField(
        "notice.template",
        "Notice text",
        "textarea",
        help="{user}, {level} and {guild} are replaced; roles are never pinged",
    ),
)
COMMANDS_FORM: typing.Final = (
    FormField(
        "manager_role_ids",
        "Bot manager roles",
        "role_list",
        help=(
            "members with any of these roles may use /xp and /config show, besides members "
            "with Manage Server"
        ),
    ),
)
PAGES: typing.Final = {
    "xp": ("XP settings", "xp", XP_FORM),
    "levels": ("Level rewards and notices", "levels", LEVELS_FORM),
    "commands": ("Command access", "commands", COMMANDS_FORM),
}
_ID_SEPARATORS: typing.Final = re.compile(r"[\s,]+")
_LIST_ENTRY: typing.Final = re.compile(r"^(?P<field>.+)\.(?P<index>\d+)$")


def _leaf(data: typing.Any, dotted: str) -> typing.Any:
    """The value at `dotted` (`notice.channel_id`) inside a section's JSON."""
    for part in dotted.split("."):
        data = data[part]
    return data


def form_values(config: GuildConfig, page: str) -> dict[str, str]:
    """What `page`'s form shows for `config`, by field name."""
    _, section, fields = PAGES[page]
    data = config.model_dump(mode="json")[section]
    values = {}
    for field in fields:
        node = _leaf(data, field.name)
        if field.kind == "bool":
            values[field.name] = "on" if node else ""
        elif field.kind == "role_list":
            values[field.name] = " ".join(str(entry) for entry in node)
        else:
            values[field.name] = "" if node is None else str(node)
    return values


def apply_form(
    current: VersionedConfig, section: str, fields: tuple[FormField, ...], form: MultiDict[str, str]
) -> GuildConfig:
    """`current` with the posted form's values in `section`, validated as a whole document."""
    document = current.config.model_dump(mode="json")
    for field in fields:
        parent, _, leaf = field.name.rpartition(".")
        node = _leaf(document[section], parent) if parent else document[section]
        raw = submitted_value(field, form)
        if field.kind == "bool":
            node[leaf] = bool(raw)
        elif field.kind in {"optional_int", "channel"}:
            node[leaf] = raw.strip() or None
        elif field.kind == "role_list":
            node[leaf] = [entry for entry in _ID_SEPARATORS.split(raw) if entry]
        else:
            node[leaf] = raw.strip() if field.kind != "textarea" else raw
    return GuildConfig.model_validate(document)


def submitted_value(field: FormField, form: MultiDict[str, str]) -> str:
    """What the form sent for `field`, as the page shows it again."""
    if field.kind == "bool":
        return "on" if form.get(field.name) else ""
    if field.kind == "role_list":  # one value per ticked role, or one typed list of ids
        return " ".join(form.getlist(field.name))
    return form.get(field.name, "")


def page_errors(errors: dict[str, list[str]], section: str) -> dict[str, list[str]]:
    """Errors keyed by dotted path in the document, keyed as the page of `section` names its
    fields (anything outside the section, which the page cannot have changed, under `_`)."""
    shown: dict[str, list[str]] = {}
    for dotted, messages in errors.items():
        head, _, rest = dotted.partition(".")
        shown.setdefault(rest if head == section and rest else "_", []).extend(messages)
    return shown


def entries_to_fields(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """An error about one entry of a list field (`name.2`) shown beside the field itself."""
    shown: dict[str, list[str]] = {}
    for name, messages in errors.items():
        entry = _LIST_ENTRY.match(name)
        if entry is None:
            shown.setdefault(name, []).extend(messages)
        else:
            position = int(entry["index"]) + 1
            shown.setdefault(entry["field"], []).extend(
                f"entry {position}: {message}" for message in messages
            )
    return shown
