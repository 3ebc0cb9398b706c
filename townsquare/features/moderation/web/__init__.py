"""The moderation feature's HTTP side: `/internal/v1` routes for its commands, the dashboard's
settings and automod pages (with the custom rules' editor), and the cases pages."""

from __future__ import annotations

import typing

from townsquare.features.moderation.web import custom_rules, dashboard, internal
from townsquare.http.config_forms import GuildLink

__all__ = ["BLUEPRINTS", "GUILD_LINKS", "PAGES"]

BLUEPRINTS: typing.Final = (internal.blueprint, dashboard.blueprint, custom_rules.blueprint)
PAGES: typing.Final = (dashboard.MODERATION_PAGE, dashboard.AUTOMOD_PAGE)
GUILD_LINKS: typing.Final = (GuildLink("cases", "Cases", "moderation_dashboard.case_list"),)
