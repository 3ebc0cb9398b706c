"""Which tasks exist and which pipeline runs each: the registry the worker and scheduler read.

Convention for features (see docs/tasks.md): a feature's tasks live in its `tasks.py`
(`townsquare/features/<name>/tasks.py`, named by `FEATURE.tasks`), are plain `async def`
functions decorated with `@REGISTRY.task("<pipeline>", "<feature>.<action>")`, and
:func:`load_tasks` imports the kernel's task modules (:data:`KERNEL_TASK_MODULES`) and each
enabled feature's. Task names are part of the wire format (they travel in every queued message
and in dead letters), so renaming a task strands messages already queued under the old name.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import typing

from townsquare.core.features import FeatureError, adapter_modules, enabled_features
from townsquare.core.settings import PIPELINES

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

__all__ = [
    "KERNEL_TASK_MODULES",
    "PIPELINES",
    "REGISTRY",
    "Pipeline",
    "TaskRegistry",
    "TaskSpec",
    "load_tasks",
    "validate_pipelines",
]

type Pipeline = str
"""A pipeline name, one of :data:`~townsquare.core.settings.PIPELINES`."""

KERNEL_TASK_MODULES: typing.Final[tuple[str, ...]] = ("townsquare.tasks.health",)
"""The kernel's own task modules; features' come from their declarations."""

_TASK_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")

TaskFunc = typing.TypeVar("TaskFunc", bound="Callable[..., Awaitable[object]]")


@dataclasses.dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task: the name messages carry, the pipeline whose workers run it, the code."""

    name: str
    pipeline: Pipeline
    func: Callable[..., Awaitable[object]]


class TaskRegistry:
    """A set of task specs, keyed by name.

    Tests build their own registry so their tasks never leak into a real worker.
    """

    __slots__ = ("_specs",)

    def __init__(self) -> None:
        self._specs: dict[str, TaskSpec] = {}

    def task(self, pipeline: Pipeline, name: str) -> Callable[[TaskFunc], TaskFunc]:
        """Register the decorated `async def` as task `name` on `pipeline`; returns it unchanged."""

        def register(func: TaskFunc) -> TaskFunc:
            self.add(TaskSpec(name, pipeline, func))
            return func

        return register

    def add(self, spec: TaskSpec) -> None:
        """Register `spec`; a bad name, an unknown pipeline or a sync function is an error."""
        if not _TASK_NAME.match(spec.name):
            raise ValueError(
                f"task name {spec.name!r} must be dotted lowercase words, e.g. 'xp.award'"
            )
        if spec.pipeline not in PIPELINES:
            raise ValueError(
                f"task {spec.name!r}: unknown pipeline {spec.pipeline!r}; "
                f"pipelines are {', '.join(PIPELINES)}"
            )
        if not inspect.iscoroutinefunction(spec.func):
            raise TypeError(
                f"task {spec.name!r} must be an async function: workers run tasks on their "
                "event loop and share its Redis and HTTP clients"
            )
        existing = self._specs.get(spec.name)
        if existing is not None and existing.func is not spec.func:
            raise ValueError(f"task name {spec.name!r} is already registered")
        self._specs[spec.name] = spec

    def for_pipeline(self, pipeline: str) -> list[TaskSpec]:
        """The tasks that `pipeline`'s workers run."""
        return [spec for spec in self._specs.values() if spec.pipeline == pipeline]

    def pipeline_of(self, name: str) -> Pipeline | None:
        """The pipeline of task `name`, or None when no such task is registered."""
        spec = self._specs.get(name)
        return None if spec is None else spec.pipeline

    def __iter__(self) -> Iterator[TaskSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)


REGISTRY: typing.Final = TaskRegistry()
"""The platform's tasks; filled by importing :data:`TASK_MODULES` (see :func:`load_tasks`)."""


def load_tasks() -> TaskRegistry:
    """Import the kernel's and the enabled features' task modules; the filled :data:`REGISTRY`.

    A feature declaring a pipeline that the settings do not have is a :class:`FeatureError`.
    """
    features = enabled_features()
    for feature in features:
        unknown = sorted(set(feature.pipelines) - set(PIPELINES))
        if unknown:
            raise FeatureError(
                f"feature {feature.name!r} declares unknown pipeline(s) {', '.join(unknown)}; "
                f"pipelines are {', '.join(PIPELINES)}"
            )
    for module in KERNEL_TASK_MODULES:
        importlib.import_module(module)
    adapter_modules("tasks", features)
    return REGISTRY


def validate_pipelines(names: typing.Iterable[str]) -> tuple[Pipeline, ...]:
    """`names` as pipelines, without duplicates; an unknown name is a :class:`ValueError`."""
    chosen: list[Pipeline] = []
    for name in names:
        pipeline = next((known for known in PIPELINES if known == name), None)
        if pipeline is None:
            raise ValueError(f"unknown pipeline {name!r}; pipelines are {', '.join(PIPELINES)}")
        if pipeline not in chosen:
            chosen.append(pipeline)
    if not chosen:
        raise ValueError(f"choose at least one pipeline of {', '.join(PIPELINES)}")
    return tuple(chosen)
