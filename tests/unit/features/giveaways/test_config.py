"""The `giveaways` section and its upgrade from schema version 2."""

from __future__ import annotations

import typing

from townsquare.core.features import guild_config_model
from townsquare.core.settings import load_settings
from townsquare.features.giveaways.domain.config import GiveawaysSection


def test_a_version_2_document_gets_the_new_giveaway_fields() -> None:
    document: dict[str, typing.Any] = load_settings(
        environ={}, env_file=None
    ).guild_defaults.model_dump(mode="json")
    document["schema_version"] = 2
    document["giveaways"] = {"claim_window_seconds": 120, "max_rerolls": 1}
    upgraded = guild_config_model().model_validate(document)
    section = upgraded.section(GiveawaysSection)
    assert (section.claim_window_seconds, section.max_rerolls) == (120, 1)
    assert section.log_channel_id is None
    assert section.dm_winners is True
    assert document["giveaways"] == {"claim_window_seconds": 120, "max_rerolls": 1}
