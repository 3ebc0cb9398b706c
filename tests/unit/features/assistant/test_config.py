"""The `ai` section: version 2 documents are brought forward to version 3."""

from __future__ import annotations

from pathlib import Path

from townsquare.core.config.schemas import CURRENT_SCHEMA_VERSION
from townsquare.core.features import guild_config_model
from townsquare.core.settings import load_settings
from townsquare.features.assistant.domain.config import DEFAULT_GUILD_PER_MINUTE, AISection


def test_a_version_2_ai_section_gains_roles_guild_limit_and_indexed_channels(
    tmp_path: Path,
) -> None:
    document = load_settings(environ={}, env_file=tmp_path / ".env").guild_defaults.model_dump(
        mode="json"
    )
    document["schema_version"] = 2
    document["ai"] = {
        "enabled": True,
        "channel_ids": [123],
        "requests_per_member_per_hour": 5,
        "max_output_tokens": 300,
    }
    upgraded = guild_config_model().model_validate(document)
    section = upgraded.section(AISection)
    assert upgraded.schema_version == CURRENT_SCHEMA_VERSION
    assert (section.enabled, section.channel_ids, section.requests_per_member_per_hour) == (
        True,
        [123],
        5,
    )
    assert section.role_ids == [] and section.knowledge_channel_ids == []
    assert section.requests_per_guild_per_minute == DEFAULT_GUILD_PER_MINUTE
    assert "role_ids" not in document["ai"]  # the stored document is left as it was
