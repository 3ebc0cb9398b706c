"""The features list and declarations: loading by dotted path, clashes, test features."""

from __future__ import annotations

import sys
import types
import typing

import pytest
from pydantic import ValidationError

from tests.support.echo import PATH as ECHO_PATH
from tests.support.echo import SETTINGS_FILE as ECHO_SETTINGS
from tests.support.echo.domain.config import EchoSection
from townsquare.core.config.schemas import ConfigSection, SectionError, assemble_guild_config
from townsquare.core.events.routes import Route
from townsquare.core.features import (
    Feature,
    FeatureError,
    adapter_modules,
    enabled_features,
    guild_config_model,
    load_feature,
    pipeline_names,
    use_features,
)
from townsquare.core.keyspace import FAMILIES, Keyspace, KeyspaceError
from townsquare.core.settings import SettingsError, load_settings
from townsquare.features.xp.domain.config import XPSection
from townsquare.tasks.registry import TaskRegistry, TaskSpec, validate_pipelines

if typing.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


async def _noop() -> None:
    return None


@pytest.fixture
def fake_feature() -> Iterator[types.ModuleType]:
    """A feature package that exists only in `sys.modules`, named per test."""
    module = types.ModuleType("fake_feature_pkg")
    sys.modules[module.__name__] = module
    try:
        yield module
    finally:
        del sys.modules[module.__name__]


def refused(module: types.ModuleType, feature: Feature, match: str) -> None:
    """Enabling `feature` (as `module`'s declaration) is a :class:`FeatureError` matching."""
    module.FEATURE = feature  # type: ignore[attr-defined]
    with pytest.raises(FeatureError, match=match), use_features(module.__name__):
        pass


def test_the_enabled_features_are_declared_once_each() -> None:
    names = [feature.name for feature in enabled_features()]
    assert names == [
        "xp",
        "moderation",
        "giveaways",
        "streams",
        "assistant",
        "access",
        "premium",
        "apikeys",
        "members",
    ]
    assert all(isinstance(feature, Feature) for feature in enabled_features())


def test_a_path_without_a_feature_or_a_module_is_refused(fake_feature: types.ModuleType) -> None:
    with pytest.raises(FeatureError, match="has no FEATURE"):
        load_feature(fake_feature.__name__)
    with pytest.raises(FeatureError, match="cannot be imported"):
        load_feature("townsquare.features.no_such_feature")


def test_two_features_with_one_name_are_refused(fake_feature: types.ModuleType) -> None:
    refused(fake_feature, Feature(name="xp"), "share a name")


def test_a_test_feature_is_enabled_only_inside_the_block() -> None:
    with use_features("tests.support.echo") as features:
        assert [f.name for f in features][-1] == "echo"
        assert Keyspace("t").key("echo", "hi").startswith("t:echo:")
        assert [m.__name__ for m in adapter_modules("web")][-1] == "tests.support.echo.web"
    assert "echo" not in [feature.name for feature in enabled_features()]
    assert "echo" not in FAMILIES
    with pytest.raises(KeyspaceError, match="unregistered"):
        Keyspace("t").key("echo", "hi")


MAIL_SETTINGS: typing.Final = """
tasks:
  mail:
    idle_timeout_seconds: 30
    max_attempts: 3
    backoff_base_seconds: 1
    backoff_max_seconds: 10
    max_concurrent_tasks: 4
    maxlen: 10000
"""


def test_a_feature_declares_its_pipeline_once_and_the_settings_follow(
    fake_feature: types.ModuleType, tmp_path: Path
) -> None:
    fake_feature.FEATURE = Feature(name="fake", pipelines=("mail",))  # type: ignore[attr-defined]
    with_mail = tmp_path / "mail.yaml"
    with_mail.write_text(MAIL_SETTINGS, encoding="utf-8")
    with use_features(fake_feature.__name__):
        assert pipeline_names() == ("xp", "automod", "ai", "mail", "jobs")
        assert validate_pipelines(["mail"]) == ("mail",)
        with pytest.raises(SettingsError) as missing:
            load_settings(environ={}, env_file=None)
        [problem] = missing.value.problems
        assert problem.key == "tasks.mail"
        assert problem.reason.startswith("missing pipeline: fake run(s) tasks on pipeline 'mail'")
        settings = load_settings(with_mail, environ={}, env_file=None)
        assert settings.tasks.pipeline("mail").max_attempts == 3
        assert list(settings.tasks.pipelines()) == ["xp", "automod", "ai", "mail", "jobs"]
    # Without the feature, its settings name a pipeline nobody runs.
    with pytest.raises(SettingsError) as unknown:
        load_settings(with_mail, environ={}, env_file=None)
    [problem] = unknown.value.problems
    assert (problem.source, problem.key) == (str(with_mail), "tasks.mail")
    assert problem.reason == (
        "unknown pipeline 'mail': no enabled feature runs tasks on it "
        "(pipelines: xp, automod, ai, jobs)"
    )
    with pytest.raises(KeyError):
        load_settings(environ={}, env_file=None).tasks.pipeline("mail")


@pytest.mark.parametrize(
    "name", ["Mail", "mail-out", "dead_letter_maxlen", "pipeline", "model_dump", "m" * 33]
)
def test_a_pipeline_name_must_be_a_short_lowercase_word(
    fake_feature: types.ModuleType, name: str
) -> None:
    refused(fake_feature, Feature(name="fake", pipelines=(name,)), "pipeline name")


def test_a_route_feeds_only_a_declared_pipeline(fake_feature: types.ModuleType) -> None:
    route = Route("mail", "fake.send", frozenset({"message"}))
    refused(fake_feature, Feature(name="fake", routes=(route,)), "route feeds pipeline 'mail'")


def test_a_task_on_an_undeclared_pipeline_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown pipeline 'mail'"):
        TaskRegistry().add(TaskSpec("fake.send", "mail", _noop))


def test_a_config_section_is_claimed_by_one_feature(fake_feature: types.ModuleType) -> None:
    claiming_xp = Feature(name="fake", config_sections=(XPSection,))
    refused(fake_feature, claiming_xp, "claimed by 'xp' and 'fake'")


@pytest.mark.parametrize("key", ["schema_version", "section", "model_dump"])
def test_a_section_may_not_take_a_name_the_document_has(key: str) -> None:
    section = type("Clash", (ConfigSection,), {"key": key, "__annotations__": {"size": int}})
    with pytest.raises(SectionError, match=f"cannot be named '{key}'"):
        assemble_guild_config([section])


def test_a_section_without_a_key_is_refused(fake_feature: types.ModuleType) -> None:
    class Nameless(ConfigSection):
        size: int

    refused(fake_feature, Feature(name="fake", config_sections=(Nameless,)), "Nameless has no key")


def test_a_section_is_in_the_guild_config_only_while_its_feature_is_enabled() -> None:
    document = load_settings(environ={}, env_file=None).guild_defaults.model_dump(mode="json")
    with use_features(ECHO_PATH):
        settings = load_settings(ECHO_SETTINGS, environ={}, env_file=None)
        assert list(guild_config_model().model_fields)[-1] == "echo"
        assert settings.guild_defaults.section(EchoSection).prefix == "echo: "
        echoed = guild_config_model().model_validate({**document, "echo": {"prefix": "> "}})
        assert echoed.section(EchoSection).prefix == "> "
        # Enabled, its defaults are required like every other section's.
        with pytest.raises(SettingsError, match=r"guild_defaults\.echo: missing"):
            load_settings(environ={}, env_file=None)
    assert "echo" not in guild_config_model().model_fields
    with pytest.raises(ValidationError, match="echo"):
        guild_config_model().model_validate({**document, "echo": {"prefix": "> "}})
    with pytest.raises(SectionError, match="no 'echo' section"):
        guild_config_model().model_validate(document).section(EchoSection)
