"""Command access: who may use management commands, and `/config show` (docs/commands.md).

Members with Manage Server (or Administrator) and members with one of the guild's manager
roles (`commands.manager_role_ids`, set on the dashboard's "Command access" page) may use the
management commands of every feature. The check itself belongs to the kernel's command
infrastructure (`CommandServices.managed_guild`), since every feature's commands use it; this
feature owns the setting (`domain/config.py`, declared as `manager_roles`), its page and
`/config show`.
"""

from __future__ import annotations

from townsquare.core.features import Feature
from townsquare.features.access.domain.config import UPGRADES, CommandsSection, manager_roles

__all__ = ["FEATURE"]

FEATURE = Feature(
    name="access",
    config_sections=(CommandsSection,),
    config_upgrades=UPGRADES,
    manager_roles=manager_roles,
    commands="townsquare.features.access.commands",
    web="townsquare.features.access.web",
)
