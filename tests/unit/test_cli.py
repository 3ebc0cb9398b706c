from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from townsquare.cli import app


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's tree
    for name in list(__import__("os").environ):
        if name.startswith("TOWNSQUARE"):
            monkeypatch.delenv(name)
    return CliRunner()


def test_config_check_prints_effective_settings_with_secrets_masked(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOWNSQUARE__HTTP__SERVICE_TOKEN", "service-token-value")
    monkeypatch.setenv("TOWNSQUARE__REDIS__URL", "redis://user:pw-in-url@10.0.0.1:6379/0")
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.stdout)
    assert printed["http"]["service_token"] == "**********"
    assert printed["redis"]["url"] == "redis://user:*****@10.0.0.1:6379/0"
    assert "service-token-value" not in result.output
    assert "pw-in-url" not in result.output


def test_config_check_says_which_redis_mode_is_in_use(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = runner.invoke(app, ["config", "check"])
    assert "# redis: single server (the embedded Valkey)" in result.stderr
    monkeypatch.setenv(
        "TOWNSQUARE__REDIS__URL", "redis+cluster://u:secret-pw@10.0.0.1:7000,10.0.0.2:7000"
    )
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert "# redis: Redis Cluster (2 seed nodes)" in result.stderr
    assert "secret-pw" not in result.output
    monkeypatch.delenv("TOWNSQUARE__REDIS__URL")
    monkeypatch.setenv(
        "TOWNSQUARE__REDIS__CLUSTER_NODES", '["10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"]'
    )
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout)["redis"]["url"] == (
        "redis+cluster://10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000"
    )
    assert "# redis: Redis Cluster (3 seed nodes)" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("URL", "http://10.0.0.1:6379", "redis.url is `embedded` or a redis://"),
        ("URL", "redis+cluster://10.0.0.1", "cluster node '10.0.0.1' is not host:port"),
        ("CLUSTER_NODES", '["10.0.0.1"]', "cluster node '10.0.0.1' is not host:port"),
    ],
)
def test_config_check_refuses_a_bad_redis_url(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(f"TOWNSQUARE__REDIS__{variable}", value)
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 2
    assert problem in result.output


def test_config_check_names_file_key_and_reason(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks:\n  xp:\n    max_attempts: 0\nhttp:\n  prot: 1\n")
    result = runner.invoke(app, ["config", "check", "--settings", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}: tasks.xp.max_attempts: Input should be greater than or equal to 1" in (
        result.output
    )
    assert f"{bad}: http.prot: unknown key" in result.output


def test_config_check_reports_missing_secret(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOWNSQUARE__AI__ENABLED", "true")
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 2
    assert "TOWNSQUARE__AI__GEMINI_API_KEY: ai.gemini_api_key: required because" in result.output


def test_worker_rejects_unknown_pipelines(runner: CliRunner) -> None:
    result = runner.invoke(app, ["worker", "--pipelines", "xp,nope"])
    assert result.exit_code == 2
    assert "unknown pipeline(s) nope" in result.output


@pytest.mark.parametrize(
    "command",
    ["up", "shards", "worker", "scheduler", "http", "console", "sandbox", "migrate"],
)
def test_every_command_has_help(runner: CliRunner, command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "--settings" in result.output


def test_shards_rejects_contradicting_selections(runner: CliRunner) -> None:
    result = runner.invoke(app, ["shards", "--cluster", "0", "--shard-ids", "0,1"])
    assert result.exit_code == 2
    assert "Invalid value" in result.output
