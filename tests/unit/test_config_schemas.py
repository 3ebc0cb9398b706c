from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from townsquare.core.config.schemas import CURRENT_SCHEMA_VERSION
from townsquare.core.features import guild_config_model
from townsquare.core.settings import load_settings
from townsquare.features.access.domain.config import MAX_MANAGER_ROLES, CommandsSection
from townsquare.features.xp.domain.config import LevelsSection, XPSection


@pytest.fixture
def document(tmp_path: Path) -> dict[str, Any]:
    settings = load_settings(environ={}, env_file=tmp_path / ".env")
    return settings.guild_defaults.model_dump(mode="json")


def _error_for(document: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as error:
        guild_config_model().model_validate(document)
    return str(error.value)


def test_defaults_round_trip_through_json(document: dict[str, Any]) -> None:
    config = guild_config_model().model_validate(document)
    assert guild_config_model().model_validate_json(config.model_dump_json()) == config


def test_unknown_keys_are_rejected(document: dict[str, Any]) -> None:
    document["xp"]["cooldown"] = 5
    assert "xp.cooldown" in _error_for(document)


def test_message_range_must_be_ordered(document: dict[str, Any]) -> None:
    document["xp"]["per_message_min"] = 30
    assert "per_message_min must not be larger than per_message_max" in _error_for(document)


def test_snowflakes_are_positive_64_bit(document: dict[str, Any]) -> None:
    document["xp"]["no_xp_channel_ids"] = [0]
    assert "no_xp_channel_ids.0" in _error_for(document)
    document["xp"]["no_xp_channel_ids"] = [2**64]
    assert "no_xp_channel_ids.0" in _error_for(document)


def test_channel_notice_needs_a_channel(document: dict[str, Any]) -> None:
    document["levels"]["notice"]["mode"] = "channel"
    assert "notice mode 'channel' needs a channel_id" in _error_for(document)


def test_table_curve_needs_entries(document: dict[str, Any]) -> None:
    document["xp"]["curve"]["kind"] = "table"
    assert "needs at least one entry" in _error_for(document)


def test_escalation_must_ascend(document: dict[str, Any]) -> None:
    document["moderation"]["escalation"][1]["offenses"] = 1
    assert "strictly ascending" in _error_for(document)


def test_timeouts_are_capped_at_28_days(document: dict[str, Any]) -> None:
    document["moderation"]["escalation"][1]["duration_seconds"] = 28 * 86_400 + 1
    assert "duration_seconds" in _error_for(document)


def test_unknown_schema_version_is_rejected(document: dict[str, Any]) -> None:
    document["schema_version"] = CURRENT_SCHEMA_VERSION + 1
    assert "schema_version" in _error_for(document)


def test_a_version_1_document_is_brought_forward(document: dict[str, Any]) -> None:
    old = {key: value for key, value in document.items() if key != "commands"}
    old["schema_version"] = 1
    old["xp"]["cooldown_seconds"] = 7
    upgraded = guild_config_model().model_validate(old)
    assert upgraded.schema_version == CURRENT_SCHEMA_VERSION == 5
    assert upgraded.section(CommandsSection).manager_role_ids == []
    assert upgraded.section(XPSection).cooldown_seconds == 7
    assert "commands" not in old  # the caller's document is left as it was
    assert old["schema_version"] == 1


def test_manager_roles_are_distinct_and_few(document: dict[str, Any]) -> None:
    document["commands"]["manager_role_ids"] = [5, 5]
    error = _error_for(document)
    assert "commands.manager_role_ids" in error and "a role is listed twice" in error
    document["commands"]["manager_role_ids"] = list(range(1, MAX_MANAGER_ROLES + 2))
    assert "commands.manager_role_ids" in _error_for(document)


def test_a_version_1_document_with_a_version_2_section_is_refused(
    document: dict[str, Any],
) -> None:
    document["schema_version"] = 1
    assert "a version 1 document has no 'commands' section" in _error_for(document)


def test_true_is_not_a_schema_version(document: dict[str, Any]) -> None:
    del document["commands"]
    document["schema_version"] = True
    assert "schema_version" in _error_for(document)


def test_a_version_4_document_gets_the_public_leaderboard_page_off(
    document: dict[str, Any],
) -> None:
    old = {**document, "schema_version": 4}
    old["levels"] = {k: v for k, v in document["levels"].items() if k != "public_leaderboard"}
    upgraded = guild_config_model().model_validate(old)
    assert upgraded.schema_version == CURRENT_SCHEMA_VERSION == 5
    assert upgraded.section(LevelsSection).public_leaderboard is False
    assert "public_leaderboard" not in old["levels"]
