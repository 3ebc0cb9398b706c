"""The live alerts' HTTP side: the platforms' webhooks, `/api/v1` feeds, `/internal/v1`
feeds for `/alerts`, and the dashboard's live alerts page."""

from __future__ import annotations

import typing

from townsquare.features.streams.web import api, dashboard, internal, webhooks

__all__ = ["BLUEPRINTS", "PAGES"]

BLUEPRINTS: typing.Final = (
    webhooks.blueprint,
    api.blueprint,
    internal.blueprint,
    dashboard.blueprint,
)
PAGES: typing.Final = (dashboard.ALERTS_PAGE,)
