from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from townsquare.core.settings import (
    DEFAULTS_FILE,
    SECRET_PATHS,
    SettingsError,
    load_settings,
    masked_dump,
)
from townsquare.features.xp.domain.config import XPSection


def _load(tmp_path: Path, env: dict[str, str] | None = None, **kwargs: object):
    return load_settings(environ=env or {}, env_file=tmp_path / ".env", **kwargs)  # type: ignore[arg-type]


def _problems(error: pytest.ExceptionInfo[SettingsError]) -> list[tuple[str, str, str]]:
    return [(p.source, p.key, p.reason) for p in error.value.problems]


def test_defaults_file_alone_is_a_complete_valid_configuration(tmp_path: Path) -> None:
    settings = _load(tmp_path)
    assert settings.redis.url == "embedded"
    assert settings.tasks.pipeline("xp").max_attempts == 5
    assert settings.guild_defaults.section(XPSection).per_message_min == 15
    assert settings.uses_sandbox


def test_every_default_line_has_a_comment() -> None:
    for number, line in enumerate(DEFAULTS_FILE.read_text().splitlines(), start=1):
        stripped = line.strip()
        is_section_header = stripped.endswith(":")
        if not stripped or stripped.startswith(("#", "- {")) or is_section_header:
            continue
        assert "#" in line, f"settings.yaml:{number} has no comment: {line!r}"


def test_override_order_file_then_dotenv_then_environment(tmp_path: Path) -> None:
    override = tmp_path / "mine.yaml"
    override.write_text("http:\n  port: 9000\nsandbox:\n  port: 9100\nlogging:\n  level: debug\n")
    (tmp_path / ".env").write_text("TOWNSQUARE__HTTP__PORT=9001\nTOWNSQUARE__SANDBOX__PORT=9101\n")
    settings = _load(tmp_path, {"TOWNSQUARE__HTTP__PORT": "9002"}, settings_file=override)
    assert settings.http.port == 9002  # environment beats .env and files
    assert settings.sandbox.port == 9101  # .env beats files
    assert settings.logging.level == "debug"  # the operator file beats the defaults
    assert settings.http.host == "127.0.0.1"  # untouched keys keep their defaults


def test_settings_file_can_come_from_the_environment(tmp_path: Path) -> None:
    override = tmp_path / "mine.yaml"
    override.write_text("redis:\n  namespace: prod\n")
    settings = _load(tmp_path, {"TOWNSQUARE_SETTINGS_FILE": str(override)})
    assert settings.redis.namespace == "prod"


def test_nested_and_complex_values_from_the_environment(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        {
            "TOWNSQUARE__GUILD_DEFAULTS__XP__NO_XP_CHANNEL_IDS": "[123, 456]",
            "TOWNSQUARE__TASKS__JOBS__MAX_ATTEMPTS": "2",
        },
    )
    assert settings.guild_defaults.section(XPSection).no_xp_channel_ids == [123, 456]
    assert settings.tasks.pipeline("jobs").max_attempts == 2
    assert settings.tasks.pipeline("jobs").backoff_max_seconds == 300


def test_wrong_type_names_the_environment_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as error:
        _load(tmp_path, {"TOWNSQUARE__TASKS__XP__MAX_ATTEMPTS": "many"})
    [(source, key, reason)] = _problems(error)
    assert source == "TOWNSQUARE__TASKS__XP__MAX_ATTEMPTS"
    assert key == "tasks.xp.max_attempts"
    assert "integer" in reason


def test_wrong_type_names_the_file(tmp_path: Path) -> None:
    override = tmp_path / "mine.yaml"
    override.write_text("http:\n  port: seventy\n")
    with pytest.raises(SettingsError) as error:
        _load(tmp_path, settings_file=override)
    [(source, key, reason)] = _problems(error)
    assert (source, key) == (str(override), "http.port")
    assert "integer" in reason


def test_unknown_keys_are_errors_in_files_and_environment(tmp_path: Path) -> None:
    override = tmp_path / "mine.yaml"
    override.write_text("http:\n  prot: 80\n")
    with pytest.raises(SettingsError) as error:
        _load(tmp_path, settings_file=override)
    assert _problems(error) == [(str(override), "http.prot", "unknown key")]

    with pytest.raises(SettingsError) as error:
        _load(tmp_path, {"TOWNSQUARE__HTTP__PROT": "80"})
    assert _problems(error) == [("TOWNSQUARE__HTTP__PROT", "http.prot", "unknown key")]


def test_secret_in_a_file_is_refused(tmp_path: Path) -> None:
    override = tmp_path / "mine.yaml"
    override.write_text("discord:\n  bot_token: abc.def.ghi\n")
    with pytest.raises(SettingsError) as error:
        _load(tmp_path, settings_file=override)
    [(source, key, reason)] = _problems(error)
    assert (source, key) == (str(override), "discord.bot_token")
    assert "TOWNSQUARE__DISCORD__BOT_TOKEN" in reason
    assert "abc.def.ghi" not in str(error.value)


def test_missing_secret_that_an_enabled_feature_needs(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as error:
        _load(tmp_path, {"TOWNSQUARE__ALERTS__TWITCH__ENABLED": "true"})
    assert {(s, k) for s, k, _ in _problems(error)} == {
        ("TOWNSQUARE__ALERTS__TWITCH__CLIENT_SECRET", "alerts.twitch.client_secret"),
        ("TOWNSQUARE__ALERTS__TWITCH__WEBHOOK_SECRET", "alerts.twitch.webhook_secret"),
    }
    with pytest.raises(SettingsError) as error:
        _load(tmp_path, {"TOWNSQUARE__DISCORD__BOT_TOKEN": "tok"})
    assert _problems(error)[0][1] == "discord.oauth_client_secret"


def test_broken_yaml_and_missing_file_are_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("http: [unclosed\n")
    with pytest.raises(SettingsError) as error:
        _load(tmp_path, settings_file=broken)
    assert _problems(error)[0][0] == str(broken)
    assert "not valid YAML" in _problems(error)[0][2]

    with pytest.raises(SettingsError) as error:
        _load(tmp_path, settings_file=tmp_path / "absent.yaml")
    assert _problems(error) == [(str(tmp_path / "absent.yaml"), "-", "file not found")]


def test_guild_defaults_are_validated_by_the_guild_schema(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as error:
        _load(tmp_path, {"TOWNSQUARE__GUILD_DEFAULTS__XP__PER_MESSAGE_MIN": "40"})
    [(source, key, reason)] = _problems(error)
    assert source == str(DEFAULTS_FILE) or source.startswith("TOWNSQUARE__GUILD_DEFAULTS")
    assert key == "guild_defaults.xp"
    assert "per_message_min" in reason


def test_masked_dump_hides_secrets_and_url_passwords(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        {
            "TOWNSQUARE__HTTP__JWT_SIGNING_KEY": "super-secret-signing-key",
            "TOWNSQUARE__DATABASE__URL": "postgres://app:hunter22@db:5432/ts",
        },
    )
    assert isinstance(settings.http.jwt_signing_key, SecretStr)
    dumped = masked_dump(settings)
    text = repr(dumped)
    assert "super-secret-signing-key" not in text
    assert "hunter22" not in text
    assert dumped["http"]["jwt_signing_key"] == "**********"
    assert dumped["database"]["url"] == "postgres://app:*****@db:5432/ts"


def test_every_secret_field_is_a_secretstr() -> None:
    names = {".".join(path) for path in SECRET_PATHS}
    assert {
        "discord.bot_token",
        "discord.oauth_client_secret",
        "http.jwt_signing_key",
        "http.service_token",
        "ai.gemini_api_key",
        "alerts.twitch.webhook_secret",
    } <= names
