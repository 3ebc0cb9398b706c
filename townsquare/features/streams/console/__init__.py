"""The live alerts' pane of the operator console: every feed and its health (docs/streams.md)."""

from __future__ import annotations

import typing

from townsquare.features.streams.console.pane import FeedsPane

__all__ = ["PANES", "FeedsPane"]

PANES: typing.Final = (FeedsPane,)
