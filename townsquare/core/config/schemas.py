"""The guild configuration document: its base, its sections' base, and how the two are joined.

A guild's configuration is one JSON document with a `schema_version` and one section per
feature (`xp`, `levels`, `commands`, ...). The kernel defines no section: each feature defines
its sections in its own `domain/config.py` (a :class:`ConfigSection` with a `key`) and names
them in its declaration (`Feature.config_sections`); the kernel joins the enabled features'
sections into one model (:func:`assemble_guild_config`; a process gets it from
`townsquare.core.features.guild_config_model`).

Every section is strict: unknown keys are errors and every field is required, because the
defaults live in one place (`guild_defaults` in settings.yaml) and are validated by these same
models when the settings load. A stored document carries `schema_version` (one number for the
whole document, kept here), and an older document is brought forward when it is read: each
feature contributes the steps for its own sections (`Feature.config_upgrades`, from one
version to the next), so stored rows, cached copies and settings files written for an earlier
schema keep working.

Code reads a section through the typed accessor: `config.section(XPSection)` is an
`XPSection`, checked by mypy, and :meth:`GuildConfig.with_section` returns a copy with one
section replaced.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from townsquare.core.validation import SNOWFLAKE_KEY_PATTERN, Snowflake

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = [
    "CURRENT_SCHEMA_VERSION",
    "FIRST_SCHEMA_VERSION",
    "MAX_CHANNEL_IDS",
    "MAX_ROLE_IDS",
    "ChannelIds",
    "ConfigModel",
    "ConfigSection",
    "GuildConfig",
    "Names",
    "ReferenceKind",
    "RoleIds",
    "SectionError",
    "Upgrade",
    "assemble_guild_config",
    "keyed",
    "on_off",
]

CURRENT_SCHEMA_VERSION: Final = 5
"""The schema version every document is brought forward to (and `GuildConfig` accepts).
A feature that changes its section's shape raises it here and contributes the step."""
FIRST_SCHEMA_VERSION: Final = 1
"""The oldest schema version a stored document may carry."""

type Upgrade = Callable[[dict[str, Any]], dict[str, Any]]
"""One feature's step from a schema version to the next: the whole document in, the whole
document out (it touches only the feature's own sections)."""

type ReferenceKind = Literal["role", "manager_role", "text_channel", "channel"]
"""What a field's ids must be in the guild: any role but @everyone, a role that can be a
manager role (neither @everyone nor managed), a text channel, or any channel."""

MAX_ROLE_IDS: Final = 250
"""Every list or map of roles: Discord's own limit of roles in a guild."""
MAX_CHANNEL_IDS: Final = 500
"""Every list or map of channels: Discord's own limit of channels in a guild."""


@dataclasses.dataclass(frozen=True, slots=True)
class Names:
    """Field metadata (`Annotated[..., Names("role")]`): the field's ids (an id, a list, or a
    map's keys) name roles or channels of the guild, which must be of this kind; the dashboard
    and the API check every id a change adds (`townsquare.core.config.references`)."""

    kind: ReferenceKind


RoleIds = Annotated[list[Snowflake], Field(max_length=MAX_ROLE_IDS), Names("role")]
"""Roles members hold (any role of the guild but @everyone)."""
ChannelIds = Annotated[list[Snowflake], Field(max_length=MAX_CHANNEL_IDS), Names("channel")]
"""Channels messages are sent in (any channel of the guild but a category)."""


def keyed(limit: int) -> Any:
    """A map from ids to values: JSON keys are decimal ids (the schema says so)."""
    return Field(
        max_length=limit, json_schema_extra={"propertyNames": {"pattern": SNOWFLAKE_KEY_PATTERN}}
    )


def on_off(flag: bool) -> str:
    """A switch as a summary shows it."""
    return "on" if flag else "off"


class SectionError(Exception):
    """A section that cannot join the document (no key, a clash), or is not in it."""


class ConfigModel(BaseModel):
    """A part of a section: strict (unknown keys are errors) and frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ConfigSection(ConfigModel):
    """One top-level section of the document, owned by one feature."""

    key: ClassVar[str]
    """The section's name in the document (`xp`, `levels`, ...)."""
    premium_counts: ClassVar[Mapping[str, Callable[[Any], int]]] = {}
    """Premium limit name -> how many the section uses (`xp.multiplier_rules`: the role and
    channel multipliers). A change that raises a count past the guild's tier is refused
    (402); the count the section already had stands (paused where the feature applies it)."""

    @classmethod
    def references(cls) -> Iterator[tuple[str, ReferenceKind]]:
        """The dotted paths inside the section whose fields are marked :class:`Names`."""
        yield from _references(cls, "")

    def summary(self) -> list[tuple[str, str]]:
        """Its main switches and numbers as (name, value) lines, for `/config show`."""
        return []


def _references(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, ReferenceKind]]:
    for name, field in model.model_fields.items():
        marks = [mark for mark in field.metadata if isinstance(mark, Names)]
        if marks:
            yield f"{prefix}{name}", marks[0].kind
        elif isinstance(field.annotation, type) and issubclass(field.annotation, ConfigModel):
            yield from _references(field.annotation, f"{prefix}{name}.")


class GuildConfig(BaseModel):
    """A guild's whole configuration document."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    schema_version: Literal[5]
    """The version of this schema the document was written with."""

    section_types: ClassVar[Mapping[str, type[ConfigSection]]] = {}
    """The sections of this document model, by key (set by :func:`assemble_guild_config`)."""
    upgrades: ClassVar[Mapping[int, tuple[Upgrade, ...]]] = {}
    """The steps from each older schema version to the next, in feature order."""

    def section[S: ConfigSection](self, kind: type[S]) -> S:
        """The section of type `kind`; :class:`SectionError` when its feature is not enabled."""
        value = getattr(self, kind.key, None)
        if not isinstance(value, kind):
            raise SectionError(f"the configuration has no {kind.key!r} section")
        return value

    def with_section(self, section: ConfigSection) -> Self:
        """A copy with `section` in place of the section of its type."""
        self.section(type(section))
        return self.model_copy(update={section.key: section})

    def sections(self) -> dict[str, ConfigSection]:
        """Every section, by key, in document order."""
        return {key: self.section(kind) for key, kind in self.section_types.items()}

    @classmethod
    def from_stored(cls, document: Mapping[str, Any], defaults: GuildConfig) -> Self:
        """A stored document (a row, written by this or an earlier deployment) as this
        process's model: brought forward, then fitted to the enabled features. A section of a
        feature no longer enabled is left out (and gone at the next write); the section of a
        feature enabled since the document was written starts from `defaults`. What a client
        sends is validated strictly instead (`model_validate`)."""
        data = cls._brought_forward(dict(document))
        if data.get("schema_version") == CURRENT_SCHEMA_VERSION:
            fallback = defaults.model_dump(mode="json")
            data = {"schema_version": CURRENT_SCHEMA_VERSION} | {
                key: data[key] if key in data else fallback[key] for key in cls.section_types
            }
        return cls.model_validate(data)

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        return cls._brought_forward(data) if isinstance(data, dict) else data

    @classmethod
    def _brought_forward(cls, data: dict[str, Any]) -> dict[str, Any]:
        """A document written for an older schema version, brought forward one step at a time."""
        version = data.get("schema_version")
        if type(version) is not int:  # not True, which is 1 too
            return data
        while FIRST_SCHEMA_VERSION <= version < CURRENT_SCHEMA_VERSION:
            for step in cls.upgrades.get(version, ()):
                data = step(data)
            version += 1
            data = data | {"schema_version": version}
        return data


def assemble_guild_config(
    sections: Iterable[type[ConfigSection]], upgrades: Iterable[Mapping[int, Upgrade]] = ()
) -> type[GuildConfig]:
    """The document model with `sections` (in order) and the upgrade steps of `upgrades`."""
    fields: dict[str, Any] = {}
    types: dict[str, type[ConfigSection]] = {}
    for kind in sections:
        key = getattr(kind, "key", None)
        if not isinstance(key, str) or not key.isidentifier():
            raise SectionError(f"{kind.__qualname__} has no `key` (its name in the document)")
        if key in types:
            raise SectionError(f"two config sections are named {key!r}")
        if key in GuildConfig.model_fields or hasattr(GuildConfig, key):
            raise SectionError(f"a config section cannot be named {key!r} (the document has that)")
        types[key] = kind
        fields[key] = (kind, ...)
    steps: dict[int, list[Upgrade]] = {}
    for contributed in upgrades:
        for version, step in contributed.items():
            if not FIRST_SCHEMA_VERSION <= version < CURRENT_SCHEMA_VERSION:
                raise SectionError(
                    f"an upgrade step from schema version {version} (versions "
                    f"{FIRST_SCHEMA_VERSION} to {CURRENT_SCHEMA_VERSION - 1} can be upgraded)"
                )
            steps.setdefault(version, []).append(step)
    model = create_model(
        "GuildConfig",
        __base__=GuildConfig,
        __doc__=GuildConfig.__doc__,
        __module__=__name__,
        **fields,
    )
    model.section_types = types
    model.upgrades = {version: tuple(found) for version, found in steps.items()}
    return model
