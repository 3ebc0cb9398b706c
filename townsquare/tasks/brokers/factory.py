"""Building the brokers of a process from its settings and the task registry."""

from __future__ import annotations

import typing

from townsquare.core.features import pipeline_names
from townsquare.tasks.brokers.pipeline_broker import PipelineBroker
from townsquare.tasks.middlewares import LogContextMiddleware, RetryMiddleware
from townsquare.tasks.registry import validate_pipelines

if typing.TYPE_CHECKING:
    from collections.abc import Iterable

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.tasks.registry import TaskRegistry

__all__ = ["make_brokers"]


def make_brokers(
    settings: Settings,
    redis_url: str,
    keyspace: Keyspace,
    pipelines: Iterable[str] | None = None,
    *,
    registry: TaskRegistry | None = None,
) -> dict[str, PipelineBroker]:
    """One broker per chosen pipeline (default: every pipeline of the enabled features and the
    kernel), with middlewares and that pipeline's tasks registered.

    Without a `registry`, the brokers know no tasks: enough to queue work by task name,
    which is all a producer needs. Brokers are not started; call `startup()` on each.
    """
    brokers: dict[str, PipelineBroker] = {}
    for pipeline in validate_pipelines(pipeline_names() if pipelines is None else pipelines):
        broker = PipelineBroker(
            redis_url, pipeline=pipeline, tasks=settings.tasks, keyspace=keyspace
        )
        broker.add_middlewares(LogContextMiddleware(pipeline), RetryMiddleware())
        if registry is not None:
            for spec in registry.for_pipeline(pipeline):
                broker.register_task(spec.func, task_name=spec.name)
        brokers[pipeline] = broker
    return brokers
