"""`activity.roll_up` (`jobs`): the overview's hourly and daily rollups, fired every minute by
the scheduler (docs/dashboard.md, "Overview").

The rules are the kernel's (:mod:`townsquare.core.activity.rollup`): the hot counts the
pipelines keep in Redis, then the enabled features' durable sources (`Feature.activity_sources`),
written to `activity_rollups` as absolute values, so a redelivered or repeated run changes
nothing.
"""

from __future__ import annotations

import typing

import structlog
from taskiq import TaskiqDepends

from townsquare.core.activity.rollup import flush_counters, roll_up_sources
from townsquare.core.features import Schedule, enabled_features
from townsquare.tasks.registry import REGISTRY

# Needed at run time: taskiq resolves the annotation to inject the worker's resources.
from townsquare.tasks.resources import TaskResources  # noqa: TC001

__all__ = ["ROLL_UP_INTERVAL_SECONDS", "ROLL_UP_TASK", "activity_schedule", "roll_up"]

ROLL_UP_TASK: typing.Final = "activity.roll_up"
ROLL_UP_INTERVAL_SECONDS: typing.Final = 60
"""The overview's numbers lag what happened by about this much."""

logger = structlog.get_logger(__name__)


def activity_schedule() -> Schedule:
    return Schedule("activity-roll-up", ROLL_UP_TASK, interval_seconds=ROLL_UP_INTERVAL_SECONDS)


@REGISTRY.task("jobs", ROLL_UP_TASK)
async def roll_up(resources: typing.Annotated[TaskResources, TaskiqDepends()]) -> int:
    """Roll the hot counts and the durable sources up; returns the rows (buckets) written."""
    buckets = await flush_counters(resources.redis, resources.keyspace)
    sources = [source for feature in enabled_features() for source in feature.activity_sources]
    rows = await roll_up_sources(sources)
    logger.info("activity.rolled_up", buckets=buckets, source_rows=rows)
    return buckets + rows
