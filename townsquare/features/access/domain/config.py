"""Command access's configuration section, `commands`: the guild's bot manager roles."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Final

from pydantic import Field, field_validator

from townsquare.core.config.schemas import ConfigSection, Names
from townsquare.core.validation import Snowflake

if TYPE_CHECKING:
    from townsquare.core.config.schemas import GuildConfig, Upgrade

__all__ = ["MAX_MANAGER_ROLES", "UPGRADES", "CommandsSection", "manager_roles"]

MAX_MANAGER_ROLES: Final = 25
"""Bot manager roles (the command access page lists them as checkboxes)."""


class CommandsSection(ConfigSection):
    """Who may use the bot's management commands (`/xp ...`, `/config show`)."""

    key = "commands"

    manager_role_ids: Annotated[
        list[Snowflake], Field(max_length=MAX_MANAGER_ROLES), Names("manager_role")
    ]
    """Members with any of these roles may use them, besides members with Manage Server or
    Administrator (and the owner), who always may."""

    def summary(self) -> list[tuple[str, str]]:
        managers = " ".join(f"<@&{role_id}>" for role_id in self.manager_role_ids)
        return [("Manager roles", managers or "none: Manage Server only")]

    @field_validator("manager_role_ids")
    @classmethod
    def _no_repeats(cls, role_ids: list[int]) -> list[int]:
        if len(set(role_ids)) != len(role_ids):
            raise ValueError("a role is listed twice")
        return role_ids


def manager_roles(config: GuildConfig) -> list[int]:
    """The guild's bot manager roles (the kernel's command check asks every feature)."""
    return config.section(CommandsSection).manager_role_ids


def _from_version_1(document: dict[str, Any]) -> dict[str, Any]:
    """Version 2 added the `commands` section; nobody had manager roles before."""
    if "commands" in document:
        raise ValueError("a version 1 document has no 'commands' section (that is version 2)")
    return {**document, "commands": {"manager_role_ids": []}}


UPGRADES: Final[dict[int, Upgrade]] = {1: _from_version_1}
"""The section's steps from each older schema version to the next."""
