"""Giveaways's configuration section, `giveaways` (defaults: `guild_defaults` in settings.yaml).

Schema version 3 added `log_channel_id` and `dm_winners` (:data:`UPGRADES`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Final

from pydantic import Field

from townsquare.core.config.schemas import ConfigSection, Names
from townsquare.core.validation import Snowflake

if TYPE_CHECKING:
    from townsquare.core.config.schemas import Upgrade

__all__ = ["UPGRADES", "GiveawaysSection"]


class GiveawaysSection(ConfigSection):
    """Giveaway defaults."""

    key = "giveaways"

    claim_window_seconds: Annotated[int, Field(ge=30, le=7 * 86_400)]
    """How long a winner has to press the claim button before a reroll."""
    max_rerolls: Annotated[int, Field(ge=0, le=50)]
    """Rerolls after unclaimed wins before the giveaway ends without a winner."""
    log_channel_id: Annotated[Snowflake | None, Names("text_channel")]
    """Channel told of every claim and of giveaways that could not start; none when unset
    (the host is told by DM either way)."""
    dm_winners: bool
    """DM each winner the Claim button, besides the announcement in the channel."""


def _from_version_2(document: dict[str, Any]) -> dict[str, Any]:
    """Version 3 added `log_channel_id` (none) and `dm_winners` (on, as before)."""
    section = dict(document.get("giveaways") or {})
    section.setdefault("log_channel_id", None)
    section.setdefault("dm_winners", True)
    return {**document, "giveaways": section}


UPGRADES: Final[dict[int, Upgrade]] = {2: _from_version_2}
"""The section's steps from each older schema version to the next."""
