"""The giveaways' HTTP side: the internal API for the commands, the dashboard pages."""

from __future__ import annotations

import typing

from townsquare.features.giveaways.web import dashboard, internal
from townsquare.http.config_forms import GuildLink

__all__ = ["BLUEPRINTS", "GUILD_LINKS"]

BLUEPRINTS: typing.Final = (dashboard.blueprint, internal.blueprint)
GUILD_LINKS: typing.Final = (GuildLink("giveaways", "Giveaways", "giveaways.listing"),)
