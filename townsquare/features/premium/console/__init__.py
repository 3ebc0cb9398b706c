"""The premium pane of the operator console (grant, extend, revoke; docs/console.md)."""

from __future__ import annotations

import typing

from townsquare.features.premium.console.grant import GrantRequest, GrantScreen
from townsquare.features.premium.console.pane import PremiumAction, PremiumPane

__all__ = ["PANES", "GrantRequest", "GrantScreen", "PremiumAction", "PremiumPane"]

PANES: typing.Final = (PremiumPane,)
