"""May a user manage a guild's Townsquare settings?

Discord answers `/users/@me/guilds` with each guild's `owner` flag and the user's computed
`permissions` (a decimal string). A user may manage a guild when they own it or hold
ADMINISTRATOR or MANAGE_GUILD there, and only guilds the bot is in are offered.
"""

from __future__ import annotations

import dataclasses
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["ADMINISTRATOR", "MANAGE_GUILD", "ManageableGuild", "can_manage", "manageable_guilds"]

ADMINISTRATOR: typing.Final = 1 << 3
MANAGE_GUILD: typing.Final = 1 << 5


@dataclasses.dataclass(frozen=True, slots=True)
class ManageableGuild:
    id: int
    name: str
    icon: str | None = None


def can_manage(*, owner: bool, permissions: int) -> bool:
    """Owner, ADMINISTRATOR or MANAGE_GUILD."""
    return owner or bool(permissions & (ADMINISTRATOR | MANAGE_GUILD))


def manageable_guilds(
    user_guilds: Iterable[Mapping[str, typing.Any]], bot_guild_ids: Iterable[int]
) -> list[ManageableGuild]:
    """The guilds of Discord's partial-guild list that the user may manage and the bot is in.

    Entries that do not look like Discord's (missing or malformed id or permissions) are
    skipped rather than trusted.
    """
    present = set(bot_guild_ids)
    found = []
    for entry in user_guilds:
        try:
            guild_id = int(entry["id"])
            permissions = int(entry.get("permissions", "0"))
        except (KeyError, TypeError, ValueError):
            continue
        if guild_id in present and can_manage(
            owner=entry.get("owner") is True, permissions=permissions
        ):
            icon = entry.get("icon")
            found.append(
                ManageableGuild(guild_id, str(entry.get("name", "")), icon if icon else None)
            )
    return sorted(found, key=lambda guild: (guild.name.lower(), guild.id))
