"""`members.count_changes` (`jobs` pipeline): a batch of joins and leaves from the shards,
counted for the overview (docs/members.md). A thin adapter over `domain.counting`."""

from __future__ import annotations

import typing

from taskiq import TaskiqDepends

from townsquare.core.events import parse_records
from townsquare.core.features import KERNEL_PIPELINE
from townsquare.features.members.domain.counting import COUNT_TASK, count_member_changes
from townsquare.tasks.errors import PermanentJobError
from townsquare.tasks.registry import REGISTRY

# Needed at run time: taskiq resolves the annotation to inject the worker's resources.
from townsquare.tasks.resources import TaskResources  # noqa: TC001

__all__ = ["count_changes"]


@REGISTRY.task(KERNEL_PIPELINE, COUNT_TASK)
async def count_changes(
    records: list[dict[str, typing.Any]],
    resources: typing.Annotated[TaskResources, TaskiqDepends()],
) -> int:
    """Count a batch of joins and leaves; returns how many were new."""
    try:
        parsed = parse_records(records)
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        raise PermanentJobError(f"unreadable member batch: {error}") from error
    return await count_member_changes(resources.redis, resources.keyspace, parsed)
