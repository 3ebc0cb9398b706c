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

from townsquare.core.features import adapter_modules, enabled_features, pipeline_names

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

__all__ = [
    "KERNEL_TASK_MODULES",
    "REGISTRY",
    "Pipeline",
    "TaskRegistry",
    "TaskSpec",
    "load_tasks",
    "validate_pipelines",
]

type Pipeline = str
"""A pipeline name, one of :func:`~townsquare.core.features.pipeline_names` (the enabled
features' declared pipelines and the kernel's `jobs`)."""

KERNEL_TASK_MODULES: typing.Final[tuple[str, ...]] = (
    "townsquare.tasks.health",
    "townsquare.tasks.alert_delivery",
    "townsquare.tasks.activity",
)
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
        known = pipeline_names()
        if spec.pipeline not in known:
            raise ValueError(
                f"task {spec.name!r}: unknown pipeline {spec.pipeline!r} (declare it in the "
                f"feature's `pipelines`); pipelines are {', '.join(known)}"
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

    A task on a pipeline no enabled feature declares is a :class:`ValueError` (at import);
    a declared pipeline without settings is caught when the settings load.
    """
    features = enabled_features()
    for module in KERNEL_TASK_MODULES:
        importlib.import_module(module)
    adapter_modules("tasks", features)
    return REGISTRY


def validate_pipelines(names: typing.Iterable[str]) -> tuple[Pipeline, ...]:
    """`names` as pipelines, without duplicates; an unknown name is a :class:`ValueError`."""
    known = pipeline_names()
    chosen: list[Pipeline] = []
    for name in names:
        if name not in known:
            raise ValueError(f"unknown pipeline {name!r}; pipelines are {', '.join(known)}")
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        raise ValueError(f"choose at least one pipeline of {', '.join(known)}")
    return tuple(chosen)
