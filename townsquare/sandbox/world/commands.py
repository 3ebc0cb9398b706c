"""Application commands registered by the bot: global, or for one guild.

Bulk overwrite replaces a scope's commands; a command keeps its id while its (type, name)
stays, as on Discord, and gets a new `version` whenever it is written.
"""

from __future__ import annotations

import dataclasses
import typing

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.payloads import JSON

__all__ = ["CHAT_INPUT", "SUBCOMMAND_TYPES", "Command", "find_command", "overwrite_commands"]

CHAT_INPUT: typing.Final[int] = 1
SUBCOMMAND_TYPES: typing.Final = frozenset({1, 2})
"""Option types SUB_COMMAND and SUB_COMMAND_GROUP: options that are commands themselves."""


@dataclasses.dataclass(slots=True)
class Command:
    id: int
    application_id: int
    guild_id: int | None
    type: int
    name: str
    description: str
    options: list[JSON]
    default_member_permissions: str | None
    nsfw: bool
    contexts: list[int] | None
    integration_types: list[int]
    version: int

    def payload(self) -> JSON:
        """`ApplicationCommandResponse`."""
        payload: JSON = {
            "id": str(self.id),
            "application_id": str(self.application_id),
            "version": str(self.version),
            "default_member_permissions": self.default_member_permissions,
            "type": self.type,
            "name": self.name,
            "name_localizations": None,
            "description": self.description,
            "description_localizations": None,
            "nsfw": self.nsfw,
            "contexts": self.contexts,
            "integration_types": self.integration_types,
        }
        if self.options:
            payload["options"] = self.options
        if self.guild_id is None:
            payload["dm_permission"] = self.contexts is None or 1 in self.contexts
        else:
            payload["guild_id"] = str(self.guild_id)
        return payload


def overwrite_commands(world: World, guild_id: int | None, specs: list[JSON]) -> list[Command]:
    """Replace the scope's commands with `specs` (already validated)."""
    old = world.commands.get(guild_id, {})
    new: dict[tuple[int, str], Command] = {}
    for spec in specs:
        kind = int(spec.get("type", CHAT_INPUT))
        key = (kind, spec["name"])
        kept = old.get(key)
        permissions = spec.get("default_member_permissions")
        new[key] = Command(
            id=kept.id if kept is not None else world.snowflakes.next(),
            application_id=world.application.id,
            guild_id=guild_id,
            type=kind,
            name=spec["name"],
            description=spec.get("description") or "",
            options=list(spec.get("options") or []),
            default_member_permissions=None if permissions is None else str(permissions),
            nsfw=bool(spec.get("nsfw", False)),
            contexts=spec.get("contexts"),
            integration_types=list(spec.get("integration_types") or [0]),
            version=world.snowflakes.next(),
        )
    world.commands[guild_id] = new
    return list(new.values())


def find_command(world: World, guild_id: int, name: str) -> Command | None:
    """The chat-input command `/name` usable in the guild: guild commands first, then global."""
    for scope in (guild_id, None):
        if (command := world.commands.get(scope, {}).get((CHAT_INPUT, name))) is not None:
            return command
    return None
