"""The moderation feature's slash commands (shard side): actions and the case history."""

from __future__ import annotations

import typing

from townsquare.features.moderation.commands import actions, cases

__all__ = ["PLUGINS"]

PLUGINS: typing.Final = (actions.plugin, cases.plugin)
