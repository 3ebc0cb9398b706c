"""What the live alerts' task modules share: the injected resources, the platform clients,
queueing jobs, applying stream events."""

from __future__ import annotations

import contextlib
import typing

import aiohttp
from taskiq import TaskiqDepends

from townsquare.core.events import encode_job
from townsquare.features.streams.domain.jobs import CARD_TASK
from townsquare.features.streams.domain.platforms.base import EXHAUSTED
from townsquare.features.streams.domain.process import apply_event
from townsquare.features.streams.domain.subscriptions import Platforms

# Needed at run time: taskiq resolves the annotation to inject the worker's resources.
from townsquare.tasks.resources import TaskResources

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from townsquare.features.streams.domain.events import StreamEvent


__all__ = ["Resources", "apply_events", "platforms_of", "queue_jobs"]

Resources = typing.Annotated[TaskResources, TaskiqDepends()]


@contextlib.asynccontextmanager
async def platforms_of(resources: TaskResources) -> AsyncIterator[Platforms]:
    """The platform clients over a session of their own, for one task."""
    async with aiohttp.ClientSession() as session:
        yield Platforms(
            resources.settings,
            session,
            resources.redis,
            resources.keyspace,
            resources.caches.get(EXHAUSTED),
        )


async def queue_jobs(resources: TaskResources, jobs: list[bytes]) -> None:
    """XADD each job to the `jobs` stream, in one round trip."""
    if not jobs:
        return
    stream = resources.keyspace.key("stream", "jobs")
    maxlen = resources.settings.tasks.pipeline("jobs").maxlen
    async with resources.redis.pipeline(transaction=False) as pipe:
        for job in jobs:
            pipe.xadd(stream, {"data": job}, maxlen=maxlen, approximate=True)
        await pipe.execute()


async def apply_events(resources: TaskResources, events: list[StreamEvent]) -> int:
    """Apply the events, then queue one card job per (feed, stream) they touched."""
    jobs = []
    for stream_event in events:
        applied = await apply_event(stream_event)
        jobs += [encode_job(CARD_TASK, feed, stream) for feed, stream in applied.cards]
    await queue_jobs(resources, jobs)
    return len(jobs)
