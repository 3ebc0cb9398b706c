"""Echo's task: remember a text (the `jobs` pipeline)."""

from __future__ import annotations

import typing

from taskiq import TaskiqDepends

from tests.support.echo.domain import ECHO_TASK, echo, remember
from townsquare.tasks.registry import REGISTRY
from townsquare.tasks.resources import TaskResources

__all__ = ["remember_text"]


@REGISTRY.task("jobs", ECHO_TASK)
async def remember_text(
    text: str, resources: typing.Annotated[TaskResources, TaskiqDepends()]
) -> str:
    await remember(resources.redis, resources.keyspace, text)
    return echo(text)
