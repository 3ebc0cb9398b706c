"""The features list and declarations: loading by dotted path, clashes, test features."""

from __future__ import annotations

import sys
import types
import typing

import pytest

from townsquare.core.features import (
    Feature,
    FeatureError,
    adapter_modules,
    enabled_features,
    load_feature,
    use_features,
)
from townsquare.core.keyspace import FAMILIES, Keyspace, KeyspaceError
from townsquare.tasks.registry import load_tasks

if typing.TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def fake_feature() -> Iterator[types.ModuleType]:
    """A feature package that exists only in `sys.modules`, named per test."""
    module = types.ModuleType("fake_feature_pkg")
    sys.modules[module.__name__] = module
    try:
        yield module
    finally:
        del sys.modules[module.__name__]


def test_the_enabled_features_are_declared_once_each() -> None:
    names = [feature.name for feature in enabled_features()]
    assert names == ["xp", "access", "premium", "apikeys"]
    assert all(isinstance(feature, Feature) for feature in enabled_features())


def test_a_path_without_a_feature_or_a_module_is_refused(fake_feature: types.ModuleType) -> None:
    with pytest.raises(FeatureError, match="has no FEATURE"):
        load_feature(fake_feature.__name__)
    with pytest.raises(FeatureError, match="cannot be imported"):
        load_feature("townsquare.features.no_such_feature")


def test_two_features_with_one_name_are_refused(fake_feature: types.ModuleType) -> None:
    fake_feature.FEATURE = Feature(name="xp")  # type: ignore[attr-defined]
    with pytest.raises(FeatureError, match="share a name"), use_features(fake_feature.__name__):
        pass


def test_a_test_feature_is_enabled_only_inside_the_block() -> None:
    with use_features("tests.support.echo") as features:
        assert [f.name for f in features][-1] == "echo"
        assert Keyspace("t").key("echo", "hi").startswith("t:echo:")
        assert [m.__name__ for m in adapter_modules("web")][-1] == "tests.support.echo.web"
    assert "echo" not in [feature.name for feature in enabled_features()]
    assert "echo" not in FAMILIES
    with pytest.raises(KeyspaceError, match="unregistered"):
        Keyspace("t").key("echo", "hi")


def test_a_feature_on_an_unknown_pipeline_is_refused(fake_feature: types.ModuleType) -> None:
    fake_feature.FEATURE = Feature(name="fake", pipelines=("mail",))  # type: ignore[attr-defined]
    with use_features(fake_feature.__name__), pytest.raises(FeatureError, match="mail"):
        load_tasks()


def test_a_config_section_is_claimed_by_one_feature_and_exists(
    fake_feature: types.ModuleType,
) -> None:
    fake_feature.FEATURE = Feature(name="fake", config_sections=("xp",))  # type: ignore[attr-defined]
    with (
        pytest.raises(FeatureError, match="claimed by 'xp' and 'fake'"),
        use_features(fake_feature.__name__),
    ):
        pass
    fake_feature.FEATURE = Feature(name="fake", config_sections=("nope",))  # type: ignore[attr-defined]
    with (
        pytest.raises(FeatureError, match="no config section 'nope'"),
        use_features(fake_feature.__name__),
    ):
        pass
