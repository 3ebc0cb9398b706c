"""The premium feature's HTTP side: the dashboard's premium page, `/api/v1` and `/internal/v1`
premium overviews (one body, `domain.overview.PremiumShown`)."""

from __future__ import annotations

import typing

from townsquare.features.premium.web import pages
from townsquare.http.config_forms import GuildLink

__all__ = ["BLUEPRINTS", "GUILD_LINKS"]

BLUEPRINTS: typing.Final = (pages.dashboard, pages.api, pages.internal)
GUILD_LINKS: typing.Final = (GuildLink("premium", "Premium", "premium.show"),)
