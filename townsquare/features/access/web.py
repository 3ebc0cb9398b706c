"""Command access on the dashboard: the guild's bot manager roles (`commands` section)."""

from __future__ import annotations

import typing

from townsquare.http.config_forms import ConfigPage, FormField

__all__ = ["BLUEPRINTS", "COMMANDS_PAGE", "PAGES"]

COMMANDS_PAGE: typing.Final = ConfigPage(
    "commands",
    "Command access",
    "commands",
    (
        FormField(
            "manager_role_ids",
            "Bot manager roles",
            "role_list",
            help=(
                "Members with any of these roles may use /xp and /config show, besides "
                "members with Manage Server."
            ),
        ),
    ),
)
BLUEPRINTS: typing.Final = ()
PAGES: typing.Final = (COMMANDS_PAGE,)
