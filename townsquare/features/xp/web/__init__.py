"""The XP feature's HTTP side: dashboard pages, `/api/v1` rewards, `/internal/v1` XP routes,
and `/public/v1` (leaderboard, ranks, rank cards, read with an API key)."""

from __future__ import annotations

import typing

from townsquare.features.xp.web import api, dashboard, internal, public

__all__ = ["BLUEPRINTS", "PAGES"]

BLUEPRINTS: typing.Final = (
    dashboard.blueprint,
    api.blueprint,
    internal.blueprint,
    public.blueprint,
)
PAGES: typing.Final = (dashboard.XP_PAGE, dashboard.LEVELS_PAGE)
