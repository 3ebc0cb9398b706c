"""Where the settings come from in a checkout, and what TOWNSQUARE_HOME changes (the installed
case runs for real in tests/integration/test_installed.py)."""

from __future__ import annotations

import typing
from pathlib import Path

from townsquare.core import paths
from townsquare.core.settings import load_settings

if typing.TYPE_CHECKING:
    import pytest


def test_a_checkout_reads_its_own_defaults_and_migrations() -> None:
    assert paths.CHECKOUT_ROOT is not None
    assert paths.defaults_file() == paths.CHECKOUT_ROOT / "settings.yaml"
    assert paths.migrations_module() == "migrations"
    # As always: var/ in the working directory, no settings file unless one is named.
    assert paths.home_dir({}) == Path()
    assert load_settings(environ={}, env_file=None).paths.var_dir == Path("var")


def test_the_home_holds_var_and_the_settings_file(tmp_path: Path) -> None:
    (tmp_path / "townsquare.yaml").write_text("logging:\n  level: error\n")
    settings = load_settings(environ={"TOWNSQUARE_HOME": str(tmp_path)}, env_file=None)
    assert settings.paths.var_dir == tmp_path / "var"
    assert settings.logging.level == "error"
    # An absolute var_dir stays where it is.
    elsewhere = tmp_path / "state"
    settings = load_settings(
        environ={"TOWNSQUARE_HOME": str(tmp_path), "TOWNSQUARE__PATHS__VAR_DIR": str(elsewhere)},
        env_file=None,
    )
    assert settings.paths.var_dir == elsewhere


def test_env_file_may_name_the_settings_file_relative_to_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine.yaml").write_text("logging:\n  level: warning\n")
    (tmp_path / ".env").write_text("TOWNSQUARE_SETTINGS_FILE=mine.yaml\n")
    monkeypatch.chdir(tmp_path.parent)
    settings = load_settings(environ={}, env_file=tmp_path / ".env")
    assert settings.logging.level == "warning"
    # The environment's own names win over the .env's.
    (tmp_path / "env.yaml").write_text("logging:\n  level: debug\n")
    settings = load_settings(
        environ={"TOWNSQUARE_SETTINGS_FILE": str(tmp_path / "env.yaml")},
        env_file=tmp_path / ".env",
    )
    assert settings.logging.level == "debug"


def test_the_default_env_file_is_the_working_directory_s_else_the_home_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from townsquare.core.settings import default_env_file

    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.chdir(work)
    assert default_env_file({"TOWNSQUARE_HOME": str(home)}) == home / ".env"
    (work / ".env").write_text("")
    assert default_env_file({"TOWNSQUARE_HOME": str(home)}) == Path(".env")
