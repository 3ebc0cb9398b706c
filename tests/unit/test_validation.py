"""The shared value rules (`townsquare.core.validation`) and the reference rules
(`townsquare.core.config.references`)."""

from __future__ import annotations

import re

import pytest
from pydantic import TypeAdapter, ValidationError

from tests.support.roles import four_roles
from townsquare.core.config.references import (
    GuildChannel,
    GuildChannels,
    added_references,
    reference_errors,
)
from townsquare.core.features import guild_config_model
from townsquare.core.settings import load_settings
from townsquare.core.validation import (
    ID_MAX,
    SNOWFLAKE_KEY_PATTERN,
    Snowflake,
    SnowflakeKey,
    Text,
    decimal_at_most,
    parse_id,
)


@pytest.mark.parametrize("limit", [1, 5, 9, 10, 99, 100, 500, 1000, 12_345])
def test_decimal_at_most_matches_exactly_one_to_the_limit(limit: int) -> None:
    pattern = re.compile(decimal_at_most(limit))
    for number in range(20_000):
        assert bool(pattern.fullmatch(str(number))) == (1 <= number <= limit), (limit, number)
    assert not pattern.fullmatch("01")


def test_the_id_pattern_is_the_bigint_range() -> None:
    pattern = re.compile(SNOWFLAKE_KEY_PATTERN)
    for number in (1, 9, 10, 2**32, 10**18, ID_MAX - 1, ID_MAX):
        assert pattern.fullmatch(str(number)), number
    for text in (str(ID_MAX + 1), str(2**64), "0", "007", "+1", " 1", "1_0", "1.0", ""):
        assert not pattern.fullmatch(text), text


def test_one_id_rule_for_values_keys_and_text() -> None:
    ids = TypeAdapter(Snowflake)
    assert ids.validate_python(ID_MAX) == ID_MAX
    for bad in (0, ID_MAX + 1, 2**64):
        with pytest.raises(ValidationError):
            ids.validate_python(bad)
    keys = TypeAdapter(dict[SnowflakeKey, float])
    assert keys.validate_json('{"12": 1.5}') == {12: 1.5}
    for bad in (" 12", "+12", "1_2", "12.0", "0", str(ID_MAX + 1)):
        with pytest.raises(ValidationError, match="keys must be ids"):
            keys.validate_python({bad: 1.0})
    assert parse_id(" 42 ") == 42
    assert parse_id(str(ID_MAX + 1)) is None
    assert parse_id("٤٢") is None  # Arabic-Indic digits are decimal to Python, not to us
    text = TypeAdapter(Text)
    assert text.validate_python("GG {user}") == "GG {user}"
    with pytest.raises(ValidationError, match="NUL"):
        text.validate_python("a\x00b")
    with pytest.raises(ValidationError, match="lone surrogates"):
        text.validate_python("a\ud800")


def test_only_added_references_are_checked() -> None:
    defaults = load_settings(environ={}, env_file=None).guild_defaults
    document = defaults.model_dump(mode="json")
    document["commands"]["manager_role_ids"] = [12, 404]
    document["xp"]["channel_multipliers"] = {"20": 2.0, "21": 1.5}
    document["levels"]["notice"] |= {"mode": "channel", "channel_id": 30}
    new = guild_config_model().model_validate(document)
    added = added_references(defaults, new)
    channels = GuildChannels(
        (GuildChannel(20, "general", 0, 0, 0), GuildChannel(30, "news", 4, 0, 1))
    )
    errors = reference_errors(added, four_roles(1), channels)
    assert set(errors) == {
        "commands.manager_role_ids",
        "xp.channel_multipliers",
        "levels.notice.channel_id",
    }
    assert errors["commands.manager_role_ids"][0].startswith("404 is not a role")
    assert errors["xp.channel_multipliers"] == [
        "21 is not a channel of this server (deleted in Discord?)"
    ]
    assert errors["levels.notice.channel_id"][0].startswith("30 is not a text channel")
    # The same document again adds nothing, so nothing is checked.
    assert added_references(new, new) == {}
    # What could not be looked up (None) is not refused.
    assert reference_errors(added, None, None) == {}
