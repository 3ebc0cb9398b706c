"""What a feature declares, and how a process finds the enabled features.

A feature is one folder, `townsquare/features/<name>/`, whose `__init__.py` holds one
:class:`Feature`: its name, its models, its Redis key families, the configuration sections it
owns, the pipelines its tasks run on, its schedules, and the dotted paths of its adapters
(`commands`, `tasks`, `web`, `console`). The list of enabled features is
`townsquare.features.ENABLED` (dotted paths of feature packages).

The kernel never imports a feature by name: :func:`enabled_features` imports the list by its
dotted path, and each runtime imports only its own kind of adapter (:meth:`Feature.adapters`),
so the worker never loads Quart and the HTTP service never loads Textual. Tests add a feature
with :func:`use_features` instead of editing the list.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import typing

from townsquare.core.config.schemas import GuildConfig
from townsquare.core.keyspace import FAMILIES, register_families

if typing.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from types import ModuleType

    from townsquare.core.events.routes import Route
    from townsquare.core.keyspace import Family

__all__ = [
    "FEATURES_LIST",
    "KERNEL_PIPELINE",
    "AdapterKind",
    "Feature",
    "FeatureError",
    "Schedule",
    "adapter_modules",
    "enabled_features",
    "feature_package",
    "load_feature",
    "use_features",
]

FEATURES_LIST: typing.Final = "townsquare.features"
"""The module whose `ENABLED` names the enabled features (dotted paths of feature packages)."""
KERNEL_PIPELINE: typing.Final = "jobs"
"""The pipeline of the kernel's own work (the ping, replays); features may use it too."""

type AdapterKind = typing.Literal["commands", "tasks", "web", "console", "cli"]


class FeatureError(Exception):
    """A feature declaration that cannot be loaded (bad path, no `FEATURE`, a clash)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Schedule:
    """A recurring task the scheduler fires; a fixed id, so installing again replaces it."""

    schedule_id: str
    task_name: str
    cron: str | None = None
    """A cron expression (UTC), or None for an interval."""
    interval_seconds: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Feature:
    """One feature's declaration: everything a process needs to know to load it."""

    name: str
    """Lowercase word; also the folder name, the docs page (`docs/<name>.md`) and the test
    folders (`tests/<kind>/features/<name>/`)."""
    models: tuple[str, ...] = ()
    """Dotted paths of its tortoise model modules (one `townsquare` app for all features)."""
    key_families: tuple[Family, ...] = dataclasses.field(default=(), repr=False)
    """Its Redis key families, registered in the keyspace when the feature is loaded."""
    config_sections: tuple[str, ...] = ()
    """The guild configuration sections it owns (fields of `GuildConfig`)."""
    pipelines: tuple[str, ...] = ()
    """The pipelines its tasks run on (each must be a pipeline of `tasks` in the settings)."""
    routes: tuple[Route, ...] = ()
    """The gateway records its pipelines take from the shards (see `core.events.routes`)."""
    schedules: tuple[Schedule, ...] = ()
    commands: str | None = None
    """Dotted path of its shard-side module: exposes `PLUGINS` (hikari-arc plugins)."""
    tasks: str | None = None
    """Dotted path of its task module: importing it registers its tasks."""
    web: str | None = None
    """Dotted path of its HTTP module: exposes `BLUEPRINTS` and optionally `PAGES`."""
    console: str | None = None
    """Dotted path of its console module: exposes `PANES` (pane classes)."""
    cli: str | None = None
    """Dotted path of its command-line module: exposes `APP` (a typer app), which the
    `townsquare` command adds as `townsquare <name> ...`. Keep its imports inside commands."""

    def adapter(self, kind: AdapterKind) -> str | None:
        """The dotted path of its adapter of `kind`, or None when it has none."""
        path: str | None = getattr(self, kind)
        return path


def load_feature(path: str) -> Feature:
    """Import the feature package at `path` and return its `FEATURE` (key families registered)."""
    try:
        module = importlib.import_module(path)
    except ImportError as error:
        raise FeatureError(f"feature {path!r} cannot be imported: {error}") from error
    feature = getattr(module, "FEATURE", None)
    if not isinstance(feature, Feature):
        raise FeatureError(f"{path} has no FEATURE = Feature(...)")
    register_families(feature.key_families)
    return feature


def feature_package(feature: Feature) -> str:
    """The dotted path of `feature`'s package (its folder), as the features list names it."""
    for path in _override[-1] if _override else _enabled_paths():
        if load_feature(path) is feature:
            return path
    raise FeatureError(f"feature {feature.name!r} is not enabled")


_override: list[tuple[str, ...]] = []


def enabled_features() -> tuple[Feature, ...]:
    """The enabled features, in list order; a duplicate name is a :class:`FeatureError`."""
    paths = _override[-1] if _override else _enabled_paths()
    features = tuple(load_feature(path) for path in paths)
    names = [feature.name for feature in features]
    if len(set(names)) != len(names):
        raise FeatureError(f"two enabled features share a name: {names}")
    _check_sections(features)
    return features


def _check_sections(features: Iterable[Feature]) -> None:
    """Each configuration section a feature claims exists, and only one feature claims it."""
    owners: dict[str, str] = {}
    for feature in features:
        for section in feature.config_sections:
            if section not in GuildConfig.model_fields:
                raise FeatureError(f"feature {feature.name!r}: no config section {section!r}")
            if section in owners:
                raise FeatureError(
                    f"config section {section!r} is claimed by {owners[section]!r} "
                    f"and {feature.name!r}"
                )
            owners[section] = feature.name


def _enabled_paths() -> tuple[str, ...]:
    listed: Iterable[str] = importlib.import_module(FEATURES_LIST).ENABLED
    return tuple(listed)


@contextlib.contextmanager
def use_features(*extra: str, only: bool = False) -> Iterator[tuple[Feature, ...]]:
    """Within the block, :func:`enabled_features` also (or, with `only`, just) lists `extra`.

    For tests: a feature living under `tests/` shows up in every runtime started in the block.
    Key families registered in the block are forgotten after it (the enabled features' come
    back when next needed).
    """
    paths = extra if only else (*_enabled_paths(), *extra)
    before = set(FAMILIES)
    _override.append(tuple(paths))
    try:
        yield enabled_features()
    finally:
        _override.pop()
        for name in set(FAMILIES) - before:
            del FAMILIES[name]


def adapter_modules(
    kind: AdapterKind, features: Iterable[Feature] | None = None
) -> list[ModuleType]:
    """The imported adapter modules of `kind` of `features` (default: the enabled ones)."""
    modules = []
    for feature in enabled_features() if features is None else features:
        path = feature.adapter(kind)
        if path is not None:
            modules.append(importlib.import_module(path))
    return modules
