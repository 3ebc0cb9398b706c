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
import functools
import re
import typing

from townsquare.core.features import guild_config_model

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from werkzeug.datastructures import MultiDict

    from townsquare.core.config.schemas import GuildConfig
    from townsquare.core.config.service import VersionedConfig

__all__ = [
    "Bounds",
    "ConfigPage",
    "FormField",
    "GuildLink",
    "apply_form",
    "changed_fields",
    "describe_value",
    "entries_to_fields",
    "field_bounds",
    "field_schema",
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
        "role",
        "role_list",
        "channel",
        "channel_list",
        "user_list",
        "lines",
        "table",
    ]
    choices: tuple[tuple[str, str], ...] = ()
    """For `choice`: (the value saved, the label shown), in the order shown."""
    help: str = ""
    """Shown under the field: what it does, in the words of the server's admin."""
    columns: tuple[str, ...] = ()
    """For `table`: the keys of each entry, in the order a line gives their values."""

    def choice_label(self, value: str) -> str:
        """The label of the choice `value` (the value itself when it is not one)."""
        return dict(self.choices).get(value, value)


@dataclasses.dataclass(frozen=True, slots=True)
class ConfigPage:
    """A dashboard page that edits one section of a guild's configuration.

    A feature's `web` module lists its pages in `PAGES`; the dashboard serves each at
    `/dashboard/guilds/<guild_id>/<name>` and links them in its navigation, in feature order.
    """

    name: str
    """The page's path segment and its key in the navigation."""
    title: str
    section: str
    """The `GuildConfig` section the form edits."""
    fields: tuple[FormField, ...]
    extra_template: str | None = None
    """A template rendered below the form (with :attr:`extra_context`'s values), e.g. a list
    that lives beside the section, such as level rewards."""
    extra_context: Callable[[int], Awaitable[dict[str, typing.Any]]] | None = None
    """`guild id -> template values` for :attr:`extra_template`."""
    picks_roles: bool = False
    """Whether the extra part picks roles (the guild's roles are fetched for it)."""


@dataclasses.dataclass(frozen=True, slots=True)
class GuildLink:
    """A guild page of a feature that is not a config page (e.g. API keys), for the navigation.

    A feature's `web` module lists them in `GUILD_LINKS`; `endpoint` takes `guild_id`.
    """

    key: str
    label: str
    endpoint: str


_ID_SEPARATORS: typing.Final = re.compile(r"[\s,]+")
_ID_LISTS: typing.Final = frozenset({"role_list", "channel_list", "user_list"})
"""Fields holding a list of ids: ticked boxes, or ids typed with spaces or commas."""
_LIST_ENTRY: typing.Final = re.compile(r"^(?P<field>.+?)\.(?P<index>\d+)(?:\.(?P<key>.+))?$")


def _leaf(data: typing.Any, dotted: str) -> typing.Any:
    """The value at `dotted` (`notice.channel_id`) inside a section's JSON."""
    for part in dotted.split("."):
        data = data[part]
    return data


def form_values(config: GuildConfig, page: ConfigPage) -> dict[str, str]:
    """What `page`'s form shows for `config`, by field name."""
    data = config.model_dump(mode="json")[page.section]
    values = {}
    for field in page.fields:
        node = _leaf(data, field.name)
        if field.kind == "bool":
            values[field.name] = "on" if node else ""
        elif field.kind in _ID_LISTS:
            values[field.name] = " ".join(str(entry) for entry in node)
        elif field.kind == "lines":
            values[field.name] = "\n".join(str(entry) for entry in node)
        elif field.kind == "table":
            values[field.name] = "\n".join(
                " ".join(str(entry[column]) for column in field.columns) for entry in node
            )
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
        elif field.kind in {"optional_int", "channel", "role"}:
            node[leaf] = raw.strip() or None
        elif field.kind in _ID_LISTS:
            node[leaf] = [entry for entry in _ID_SEPARATORS.split(raw) if entry]
        elif field.kind == "lines":
            node[leaf] = [line.strip() for line in raw.splitlines() if line.strip()]
        elif field.kind == "table":
            node[leaf] = [_row(field.columns, line) for line in raw.splitlines() if line.strip()]
        else:
            node[leaf] = raw.strip() if field.kind != "textarea" else raw
    return guild_config_model().model_validate(document)


def _row(columns: tuple[str, ...], line: str) -> dict[str, str]:
    """One line of a `table` field: its values, separated by spaces, under `columns` (a line
    with too few or too many values is left for the schema to refuse, naming the entry)."""
    values = line.split()
    row = dict(zip(columns, values, strict=False))
    if len(values) > len(columns):
        row["unexpected"] = " ".join(values[len(columns) :])
    return row


def submitted_value(field: FormField, form: MultiDict[str, str]) -> str:
    """What the form sent for `field`, as the page shows it again."""
    if field.kind == "bool":
        return "on" if form.get(field.name) else ""
    if field.kind in _ID_LISTS:  # one value per ticked role or channel, or one typed list of ids
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
            where = f"entry {int(entry['index']) + 1}"
            if entry["key"]:
                where += f" ({entry['key']})"
            shown.setdefault(entry["field"], []).extend(
                f"{where}: {message}" for message in messages
            )
    return shown


@dataclasses.dataclass(frozen=True, slots=True)
class Bounds:
    """What the schema accepts for one field: a number's range, a text's longest length."""

    minimum: int | float | None = None
    maximum: int | float | None = None
    max_length: int | None = None


def field_schema(section: str, dotted: str) -> dict[str, typing.Any]:
    """The JSON schema of `section`.`dotted` in the enabled features' `GuildConfig` ({} when
    the path is not in it), references resolved and an optional value's null branch left out."""
    return _field_schema(guild_config_model(), section, dotted)


@functools.cache
def _document_schema(model: type[GuildConfig]) -> dict[str, typing.Any]:
    return model.model_json_schema()


def _field_schema(model: type[GuildConfig], section: str, dotted: str) -> dict[str, typing.Any]:
    document = _document_schema(model)
    definitions = document.get("$defs", {})

    def resolved(node: dict[str, typing.Any]) -> dict[str, typing.Any]:
        while True:
            if "$ref" in node:
                node = definitions.get(node["$ref"].rsplit("/", 1)[-1], {})
            elif "anyOf" in node:
                node = next((b for b in node["anyOf"] if b.get("type") != "null"), {})
            else:
                return node

    node = resolved(document.get("properties", {}).get(section, {}))
    for part in dotted.split("."):
        children = node.get("properties", {})
        if part in children:
            node = resolved(children[part])
        elif isinstance(node.get("additionalProperties"), dict):
            node = resolved(node["additionalProperties"])
        else:
            return {}
    return node


def field_bounds(section: str, field: FormField) -> Bounds:
    """The range (numbers) or the longest length (texts) the schema gives `field`; ids are
    left unbounded (their rule is the id rule, not a range anyone types towards)."""
    if field.kind not in {"int", "optional_int", "text", "textarea"}:
        return Bounds()
    node = field_schema(section, field.name)
    minimum = node.get("minimum")
    if minimum is None and "exclusiveMinimum" in node:
        minimum = node["exclusiveMinimum"] + 1
    maximum = node.get("maximum")
    if maximum is None and "exclusiveMaximum" in node:
        maximum = node["exclusiveMaximum"] - 1
    if field.kind != "int" and maximum is not None and maximum >= ID_MAXIMUM:
        return Bounds()
    return Bounds(minimum, maximum, node.get("maxLength"))


ID_MAXIMUM: typing.Final = 2**63 - 1
"""The largest id (a snowflake or a row id): a field bounded by it holds an id."""


def changed_fields(
    before: dict[str, str], after: dict[str, str], fields: tuple[FormField, ...]
) -> list[str]:
    """The names of `fields` whose shown values differ between two :func:`form_values`."""
    return [field.name for field in fields if before.get(field.name) != after.get(field.name)]


def describe_value(field: FormField, value: str, names: dict[str, str]) -> str:
    """`value` of `field` as a sentence's end shows it after a save: a choice's label, on or
    off, role and channel names (`names`, id -> name), or nothing for long texts."""
    if field.kind == "bool":
        return "on" if value else "off"
    if field.kind == "choice":
        return field.choice_label(value)
    if field.kind in {"textarea", "lines", "table"}:
        return ""
    if field.kind in {"channel", "role", *_ID_LISTS}:
        shown = [names.get(entry, entry) for entry in value.split()]
        return ", ".join(shown) if shown else "none"
    return value or "empty"
