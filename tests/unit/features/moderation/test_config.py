"""The `moderation` section's upgrade from schema version 3: anti-nuke arrives off, with its
defaults; a stored document keeps everything else."""

from __future__ import annotations

import typing

import hikari

from townsquare.core.config.schemas import CURRENT_SCHEMA_VERSION
from townsquare.core.features import guild_config_model
from townsquare.core.settings import load_settings
from townsquare.features.moderation.domain.config import ModerationSection
from townsquare.shards.intents import gateway_intents


def test_a_version_3_document_gets_anti_nuke_off() -> None:
    document: dict[str, typing.Any] = load_settings(
        environ={}, env_file=None
    ).guild_defaults.model_dump(mode="json")
    document["schema_version"] = 3
    del document["moderation"]["anti_nuke"]
    document["moderation"]["warn_points"] = 4
    upgraded = guild_config_model().model_validate(document)
    assert upgraded.schema_version == CURRENT_SCHEMA_VERSION == 5
    section = upgraded.section(ModerationSection)
    assert section.warn_points == 4
    assert not section.anti_nuke.enabled
    assert section.anti_nuke.limits.channel_delete == 2
    assert section.anti_nuke.trusted_user_ids == []
    assert "anti_nuke" not in document["moderation"]


def test_the_shards_watch_the_audit_log_only_with_anti_nuke_on() -> None:
    off = load_settings(environ={}, env_file=None)
    on = load_settings(
        environ={"TOWNSQUARE__GUILD_DEFAULTS__MODERATION__ANTI_NUKE__ENABLED": "true"},
        env_file=None,
    )
    assert not gateway_intents(off) & hikari.Intents.GUILD_MODERATION
    assert gateway_intents(on) & hikari.Intents.GUILD_MODERATION
