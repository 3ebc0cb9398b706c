"""taskiq brokers, pipelines, the scheduler and their middlewares.

Entry points for the CLI: :func:`run_worker` and :func:`run_scheduler`. Producers inside
this package queue work through :func:`make_brokers`; docs/tasks.md describes the whole.
"""

from __future__ import annotations

from townsquare.tasks.brokers import PipelineBroker, make_brokers
from townsquare.tasks.errors import PermanentJobError
from townsquare.tasks.registry import REGISTRY, TaskRegistry, load_tasks
from townsquare.tasks.resources import TaskResources
from townsquare.tasks.scheduler import run_scheduler
from townsquare.tasks.worker import run_worker

__all__ = [
    "REGISTRY",
    "PermanentJobError",
    "PipelineBroker",
    "TaskRegistry",
    "TaskResources",
    "load_tasks",
    "make_brokers",
    "run_scheduler",
    "run_worker",
]
