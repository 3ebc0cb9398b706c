"""Roles and channels a configuration names, checked against what the guild has in Discord.

The dashboard and the JSON API both save through these checks, so both refuse the same things
with the same words. What the guild has (:class:`GuildRoles`, :class:`GuildChannels`) is read
from Discord by the HTTP service (`townsquare.http.guild_lookups`); here are only the rules:

Each section marks its fields that name roles or channels with what they must be
(`Annotated[..., Names("role")]`, a :data:`~townsquare.core.config.schemas.ReferenceKind`):

- a role that members hold (`xp.no_xp_role_ids`, the keys of `xp.role_multipliers`,
  `moderation.automod.exempt_role_ids`, `alerts.mention_role_id`): a role of the guild, not
  `@everyone` (every member has it, so it would mean everybody);
- a bot manager role (`commands.manager_role_ids`): also not a managed role (a bot's or an
  integration's own), as the dashboard's picker offers;
- a channel the bot posts in (`levels.notice.channel_id`, `moderation.log_channel_id`,
  `alerts.channel_id`): a text or announcement channel of the guild;
- a channel messages are sent in (`xp.no_xp_channel_ids`, the keys of
  `xp.channel_multipliers`, `moderation.automod.link_allowed_channel_ids`, `ai.channel_ids`):
  any channel of the guild but a category.

Only references a change adds are checked: ids already stored stay (a role deleted in Discord
since is shown as unknown until someone changes it), so a document read and written back
unchanged is never refused because of something done in Discord meanwhile.
"""

from __future__ import annotations

import dataclasses
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from townsquare.core.config.schemas import GuildConfig, ReferenceKind

__all__ = [
    "NOT_A_MANAGER_ROLE",
    "NOT_A_ROLE",
    "NOT_A_TEXT_CHANNEL",
    "GuildChannel",
    "GuildChannels",
    "GuildRole",
    "GuildRoles",
    "added_references",
    "needs_channels",
    "needs_roles",
    "posting_channels",
    "reference_errors",
]

TEXT_CHANNEL_TYPES: typing.Final = frozenset({0, 5})  # GUILD_TEXT, GUILD_ANNOUNCEMENT
CATEGORY: typing.Final = 4

NOT_A_MANAGER_ROLE: typing.Final = (
    "{} is not a role of this server that members can be given "
    "(deleted in Discord, or a bot's own role?)"
)
NOT_A_ROLE: typing.Final = "{} is not a role of this server (deleted in Discord?)"
EVERYONE: typing.Final = "@everyone is every member's role; pick another role"
NOT_A_TEXT_CHANNEL: typing.Final = (
    "{} is not a text channel of this server (deleted in Discord?); pick another"
)
NOT_A_CHANNEL: typing.Final = "{} is not a channel of this server (deleted in Discord?)"


@dataclasses.dataclass(frozen=True, slots=True)
class GuildRole:
    id: int
    name: str
    position: int
    managed: bool
    permissions: int = 0
    """The server-wide permissions the role grants (Discord's bit field)."""


@dataclasses.dataclass(frozen=True, slots=True)
class GuildChannel:
    id: int
    name: str
    type: int
    parent_id: int
    position: int


@dataclasses.dataclass(frozen=True, slots=True)
class GuildRoles:
    """A guild's roles as Discord describes them, and the bot's highest role there."""

    guild_id: int
    roles: tuple[GuildRole, ...]
    bot_top: GuildRole | None
    """The bot's highest role; None when the bot holds none (or Discord did not say)."""

    def by_id(self) -> dict[int, GuildRole]:
        return {role.id: role for role in self.roles}

    def assignable(self) -> list[GuildRole]:
        """Roles members can be given (not @everyone, not managed), highest first."""
        kept = [r for r in self.roles if r.id != self.guild_id and not r.managed]
        return sorted(kept, key=lambda r: (-r.position, r.id))


@dataclasses.dataclass(frozen=True, slots=True)
class GuildChannels:
    """A guild's channels as Discord describes them."""

    channels: tuple[GuildChannel, ...]

    def ids(self) -> set[int]:
        return {c.id for c in self.channels if c.type != CATEGORY}

    def text(self) -> list[GuildChannel]:
        """Text and announcement channels in Discord's order (outside categories first, then
        by category, then position)."""
        categories = {c.id: c.position for c in self.channels if c.type == CATEGORY}
        kept = [c for c in self.channels if c.type in TEXT_CHANNEL_TYPES]

        def order(c: GuildChannel) -> tuple[int, int, int]:
            return (-1 if c.parent_id == 0 else categories.get(c.parent_id, 0), c.position, c.id)

        return sorted(kept, key=order)


type Kind = ReferenceKind


def _fields(config: GuildConfig) -> Iterator[tuple[str, Kind]]:
    """The document's fields that name roles or channels (dotted paths), as its sections
    mark them (`Names`), roles first, in document order."""
    found = [
        (f"{key}.{dotted}", kind)
        for key, section in config.section_types.items()
        for dotted, kind in section.references()
    ]
    yield from sorted(found, key=lambda field: field[1] not in ROLE_KINDS)


ROLE_KINDS: typing.Final = frozenset({"role", "manager_role"})


def _ids(config: GuildConfig, dotted: str) -> list[int]:
    node: typing.Any = config
    for part in dotted.split("."):
        node = getattr(node, part)
    if node is None:
        return []
    if isinstance(node, int):
        return [node]
    return [int(item) for item in node]  # a list, or a map's keys


def posting_channels(config: GuildConfig) -> list[tuple[str, list[int]]]:
    """The channels the configuration has the bot post in (its fields marked
    `Names("text_channel")`), by dotted path; fields left empty are left out."""
    found = []
    for dotted, kind in _fields(config):
        if kind == "text_channel" and (ids := _ids(config, dotted)):
            found.append((dotted, ids))
    return found


def added_references(old: GuildConfig, new: GuildConfig) -> dict[str, tuple[Kind, list[int]]]:
    """Per field (dotted path), the ids `new` names that `old` did not, in order."""
    added: dict[str, tuple[Kind, list[int]]] = {}
    for dotted, kind in _fields(new):
        before = set(_ids(old, dotted))
        fresh = [item for item in _ids(new, dotted) if item not in before]
        if fresh:
            added[dotted] = (kind, fresh)
    return added


def _role_error(kind: Kind, role_id: int, roles: GuildRoles) -> str | None:
    role = roles.by_id().get(role_id)
    if kind == "manager_role":
        ok = role is not None and role.id != roles.guild_id and not role.managed
        return None if ok else NOT_A_MANAGER_ROLE.format(role_id)
    if role is None:
        return NOT_A_ROLE.format(role_id)
    return EVERYONE if role.id == roles.guild_id else None


def reference_errors(
    added: dict[str, tuple[Kind, list[int]]],
    roles: GuildRoles | None,
    channels: GuildChannels | None,
) -> dict[str, list[str]]:
    """The problems of `added` (from :func:`added_references`) by field; fields whose kind
    could not be looked up (None) are skipped."""
    errors: dict[str, list[str]] = {}
    text_ids = {c.id for c in channels.text()} if channels is not None else set()
    any_ids = channels.ids() if channels is not None else set()
    for dotted, (kind, ids) in added.items():
        for item in ids:
            message: str | None = None
            if kind in ROLE_KINDS:
                if roles is not None:
                    message = _role_error(kind, item, roles)
            elif channels is not None:
                if kind == "text_channel" and item not in text_ids:
                    message = NOT_A_TEXT_CHANNEL.format(item)
                elif kind == "channel" and item not in any_ids:
                    message = NOT_A_CHANNEL.format(item)
            if message is not None:
                errors.setdefault(dotted, []).append(message)
    return errors


def needs_roles(added: Iterable[tuple[Kind, list[int]]]) -> bool:
    return any(kind in ROLE_KINDS for kind, _ in added)


def needs_channels(added: Iterable[tuple[Kind, list[int]]]) -> bool:
    return any(kind not in ROLE_KINDS for kind, _ in added)
