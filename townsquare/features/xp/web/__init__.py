"""The XP feature's HTTP side: dashboard pages, `/api/v1` rewards, `/internal/v1` XP routes,
`/public/v1` (leaderboard, ranks, rank cards, read with an API key) and the public
leaderboard page (`/leaderboard/<guild id>`, when the guild switched it on)."""

from __future__ import annotations

import typing

from townsquare.features.xp.web import (
    api,
    background,
    dashboard,
    internal,
    leaderboard_page,
    public,
)
from townsquare.http.config_forms import GuildLink

__all__ = ["BLUEPRINTS", "BODY_LIMITS", "GUILD_LINKS", "PAGES"]

BLUEPRINTS: typing.Final = (
    dashboard.blueprint,
    api.blueprint,
    internal.blueprint,
    public.blueprint,
    background.blueprint,
    leaderboard_page.blueprint,
)
GUILD_LINKS: typing.Final = (GuildLink("rank_card", "Rank card", "xp_rank_card.show"),)
BODY_LIMITS: typing.Final = background.BODY_LIMITS
PAGES: typing.Final = (dashboard.XP_PAGE, dashboard.LEVELS_PAGE)
