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
import re
import typing

from townsquare.core.config.schemas import GuildConfig, SectionError, assemble_guild_config
from townsquare.core.keyspace import FAMILIES, register_families

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
    from types import ModuleType

    import redis.asyncio as aioredis

    from townsquare.core.activity.metrics import ActivitySource, Metric
    from townsquare.core.config.schemas import ConfigSection, Upgrade
    from townsquare.core.events.routes import Route
    from townsquare.core.keyspace import Family, Keyspace
    from townsquare.core.settings import Settings

__all__ = [
    "FEATURES_LIST",
    "KERNEL_PERMISSIONS",
    "KERNEL_PIPELINE",
    "AdapterKind",
    "DemoContext",
    "Feature",
    "FeatureError",
    "Schedule",
    "adapter_modules",
    "enabled_features",
    "feature_package",
    "guild_config_model",
    "load_feature",
    "manager_role_ids",
    "needs_member_joins",
    "pipeline_names",
    "pipeline_users",
    "use_features",
]

FEATURES_LIST: typing.Final = "townsquare.features"
"""The module whose `ENABLED` names the enabled features (dotted paths of feature packages)."""
KERNEL_PERMISSIONS: typing.Final = ("VIEW_CHANNEL", "SEND_MESSAGES", "EMBED_LINKS")
"""What the kernel itself needs in a guild: it posts operator and guild alerts in channels."""
KERNEL_PIPELINE: typing.Final = "jobs"
"""The pipeline of the kernel's own work (the ping, replays); features may use it too."""

type AdapterKind = typing.Literal[
    "commands", "tasks", "web", "console", "cli", "usage", "needs", "demo"
]


class FeatureError(Exception):
    """A feature declaration that cannot be loaded (bad path, no `FEATURE`, a clash)."""


@dataclasses.dataclass(frozen=True, slots=True)
class DemoContext:
    """What a feature's demo hook (`Feature.demo`) gets: run by `townsquare up` against the
    sandbox (`townsquare.core.demos`), with PostgreSQL open."""

    settings: Settings
    redis: aioredis.Redis
    keyspace: Keyspace
    guild_id: int
    """The sandbox's demo guild (the bot's first)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Schedule:
    """A recurring task the scheduler fires; a fixed id, so installing again replaces it."""

    schedule_id: str
    task_name: str
    cron: str | None = None
    """A cron expression (UTC), or None for an interval."""
    interval_seconds: int | None = None
    minute_kwarg: str | None = None
    """With a cron: the keyword argument the scheduler sets to the Unix minute each run is
    for (the minute it fired in), so a run delivered late still knows which minute is its."""


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
    config_sections: tuple[type[ConfigSection], ...] = ()
    """The guild configuration sections it owns, defined in its `domain/config.py`; the
    document model (:func:`guild_config_model`) has the enabled features' sections."""
    config_upgrades: Mapping[int, Upgrade] = dataclasses.field(
        default_factory=dict, hash=False, repr=False
    )
    """Its steps bringing a stored document forward, by the schema version each starts from
    (`townsquare.core.config.schemas.CURRENT_SCHEMA_VERSION` is the kernel's one number)."""
    manager_roles: Callable[[GuildConfig], Collection[int]] | None = None
    """The roles of a guild's configuration whose members may use every feature's
    management commands (besides Manage Server), for the kernel's command check."""
    reads_message_content: Callable[[Settings], bool] | None = None
    """Whether it reads message text under these settings (e.g. automod when it is on in the
    guild defaults, which a guild's configuration starts from); the shards ask for Discord's
    privileged MESSAGE_CONTENT intent only when a feature does."""
    reads_member_joins: Callable[[Settings], bool] | None = None
    """Whether it needs members joining and leaving (GUILD_MEMBER_ADD/REMOVE) under these
    settings (anti-raid when it is on in the guild defaults; the members feature when
    `discord.server_members_intent` is on); the shards ask for Discord's privileged
    GUILD_MEMBERS intent only when a feature does (:func:`needs_member_joins`), and then
    publish both."""
    reads_automod_executions: Callable[[Settings], bool] | None = None
    """Whether it records Discord's own AutoMod actions under these settings; the shards then
    ask for the AUTO_MODERATION_EXECUTION intent (not privileged)."""
    reads_audit_log: Callable[[Settings], bool] | None = None
    """Whether it watches the guilds' audit logs under these settings (anti-nuke when it is
    on in the guild defaults); the shards then ask for the GUILD_MODERATION intent (not
    privileged) and publish `audit_log_entry` records."""
    pipelines: tuple[str, ...] = ()
    """The pipelines its tasks run on: the one place a pipeline's name is written. The
    pipelines are the enabled features' and the kernel's `jobs` (:func:`pipeline_names`);
    each needs its settings under `tasks.<name>` in the settings."""
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
    permissions: tuple[str, ...] = ()
    """The Discord permissions the bot needs in a guild for it, by their names in
    `hikari.Permissions` (e.g. "MANAGE_ROLES"); the invite link `townsquare init` prints asks
    for the enabled features' and the kernel's (:data:`KERNEL_PERMISSIONS`), and `townsquare
    doctor` reports the ones a guild has not granted (`townsquare.core.doctor`)."""
    needs: str | None = None
    """Dotted path of its needs module: exposes `NEEDS`, an async `(guild_id, config) ->
    Needs` naming the roles the bot assigns and the channels it posts in for a guild beyond
    the configuration's channel fields (e.g. XP's reward roles, a live-alert feed's channel),
    for `townsquare doctor` (PostgreSQL, no framework)."""
    usage: str | None = None
    """Dotted path of its premium-usage module: exposes `USAGE`, premium limit name -> async
    `(guild_id) -> int` counting what the guild uses now (PostgreSQL, no framework), and
    optionally `PERIOD_USAGE`, limit name -> async `(redis, keyspace, guild_id) -> int`
    reading what the current period used of a per-period limit kept in Redis (the assistant's
    tokens today); shown by `/premium`, the dashboard's premium page and the console
    (`core.premium.guild_usage`)."""

    activity_metrics: tuple[Metric, ...] = ()
    """Metrics of the dashboard's overview it counts in Redis as it works
    (`townsquare.core.activity.counters`, e.g. XP's messages, XP and active members)."""
    activity_sources: tuple[ActivitySource, ...] = ()
    """Metrics of the dashboard's overview counted from rows it already keeps in PostgreSQL
    (`townsquare.core.activity`): queries per guild and hour, rolled up by the scheduler's
    `activity.roll_up` job, never run for a page view."""

    demo: str | None = None
    """Dotted path of its demo module: exposes `DEMO`, an async `(DemoContext) -> str | None`
    (run by `townsquare.core.demos`) that sets the feature up in the sandbox's demo guild, run by
    `townsquare up` against the sandbox at every start (so idempotent), PostgreSQL open; its
    line (if any) is printed. No framework: it runs in the `up` process."""

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
    _check_pipelines(features)
    return features


_PIPELINE_NAME: typing.Final = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def _check_pipelines(features: Iterable[Feature]) -> None:
    """Pipeline names are short lowercase words (a stream key part and a settings key, so not
    a name the `tasks` settings already have), and a feature's routes feed only pipelines it
    declares."""
    from townsquare.core.settings import TasksSettings

    for feature in features:
        for name in feature.pipelines:
            taken = name in TasksSettings.model_fields or hasattr(TasksSettings, name)
            if not _PIPELINE_NAME.match(name) or taken:
                raise FeatureError(
                    f"feature {feature.name!r}: pipeline name {name!r} must be a lowercase "
                    "word (letters, digits, underscores; at most 32) and not a `tasks` setting"
                )
        for route in feature.routes:
            if route.pipeline not in feature.pipelines:
                raise FeatureError(
                    f"feature {feature.name!r}: a route feeds pipeline {route.pipeline!r}, "
                    "which is not in its `pipelines`"
                )


def needs_member_joins(settings: Settings) -> bool:
    """Whether an enabled feature needs members joining and leaving under `settings`
    (`Feature.reads_member_joins`), so the shards ask for the privileged GUILD_MEMBERS intent.
    Off by default, so a bot without the intent enabled in Discord's developer portal still
    connects."""
    return any(
        feature.reads_member_joins(settings)
        for feature in enabled_features()
        if feature.reads_member_joins is not None
    )


def pipeline_names(features: Iterable[Feature] | None = None) -> tuple[str, ...]:
    """The pipelines: the enabled features' (in feature order), then the kernel's `jobs`."""
    names: list[str] = []
    for feature in enabled_features() if features is None else features:
        names.extend(
            name for name in feature.pipelines if name != KERNEL_PIPELINE and name not in names
        )
    return (*names, KERNEL_PIPELINE)


def pipeline_users(name: str) -> list[str]:
    """The enabled features whose tasks run on pipeline `name` (for error messages)."""
    if name == KERNEL_PIPELINE:
        return ["the kernel"]
    return [feature.name for feature in enabled_features() if name in feature.pipelines]


def _check_sections(features: Iterable[Feature]) -> None:
    """Only one feature claims each configuration section."""
    owners: dict[str, str] = {}
    for feature in features:
        for section in feature.config_sections:
            key = getattr(section, "key", None)
            if not isinstance(key, str):
                raise FeatureError(f"feature {feature.name!r}: {section.__qualname__} has no key")
            if key in owners:
                raise FeatureError(
                    f"config section {key!r} is claimed by {owners[key]!r} and {feature.name!r}"
                )
            owners[key] = feature.name


_models: dict[tuple[str, ...], type[GuildConfig]] = {}


def guild_config_model() -> type[GuildConfig]:
    """The guild configuration document of the enabled features (their sections, in feature
    order, and their upgrade steps); built once per set of enabled features."""
    paths = _override[-1] if _override else _enabled_paths()
    model = _models.get(paths)
    if model is None:
        features = enabled_features()
        try:
            model = assemble_guild_config(
                (section for feature in features for section in feature.config_sections),
                (feature.config_upgrades for feature in features),
            )
        except SectionError as error:
            raise FeatureError(str(error)) from error
        _models[paths] = model
    return model


def manager_role_ids(config: GuildConfig) -> set[int]:
    """The guild's bot manager roles, as the enabled features declare them."""
    roles: set[int] = set()
    for feature in enabled_features():
        if feature.manager_roles is not None:
            roles.update(feature.manager_roles(config))
    return roles


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
