"""The built-in `townsquare.ping` job: proof that a worker of the `jobs` pipeline is alive.

A health check (or a test) queues `townsquare.ping` with a fresh token and waits for the
token's `ping` key to appear; its value counts the runs, so a redelivery would show as 2.
"""

from __future__ import annotations

import typing

import structlog
from taskiq import TaskiqDepends

from townsquare.tasks.registry import REGISTRY

# Needed at run time: taskiq resolves the annotation to inject the worker's resources.
from townsquare.tasks.resources import TaskResources  # noqa: TC001

__all__ = ["PING_TASK", "ping"]

PING_TASK: typing.Final = "townsquare.ping"

logger = structlog.get_logger(__name__)


@REGISTRY.task("jobs", PING_TASK)
async def ping(
    token: str,
    resources: typing.Annotated[TaskResources, TaskiqDepends()],
) -> int:
    """Count one run under `token`; returns the count so far."""
    key = resources.keyspace.key("ping", token)
    async with resources.redis.pipeline(transaction=True) as tx:
        tx.incr(key)
        tx.expire(key, resources.keyspace.ttl("ping") or 300)
        count, _ = await tx.execute()
    logger.info("tasks.ping", token=token, count=count)
    return int(count)
