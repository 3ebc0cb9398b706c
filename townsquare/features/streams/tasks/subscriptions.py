"""A creator's one platform subscription: `streams.subscribe`, `streams.unsubscribe`, and
the renewal schedule's `streams.renew`."""

from __future__ import annotations

import contextlib
import datetime
import typing

import structlog

from townsquare.core.alerts import raise_alert_once
from townsquare.core.events import encode_job
from townsquare.features.streams.domain.access import (
    PlatformOffError,
)
from townsquare.features.streams.domain.jobs import (
    RENEW_TASK,
    SUBSCRIBE_TASK,
    UNSUBSCRIBE_TASK,
)
from townsquare.features.streams.domain.models import Creator, Feed, Stream
from townsquare.features.streams.domain.platforms.base import PlatformError
from townsquare.features.streams.domain.subscriptions import (
    due_for_retry,
    lost_kick_subscriptions,
    subscribe_creator,
    subscription_problem,
    unsubscribe_creator,
)
from townsquare.features.streams.tasks._shared import (
    Resources,
    platforms_of,
    queue_jobs,
)
from townsquare.tasks.errors import PermanentJobError
from townsquare.tasks.registry import REGISTRY

logger = structlog.get_logger(__name__)

KEEP_ENDED: typing.Final = datetime.timedelta(days=30)
"""Ended streams older than this are deleted with their card rows (the messages stay)."""

__all__ = ["renew", "subscribe", "unsubscribe"]


@REGISTRY.task("jobs", SUBSCRIBE_TASK)
async def subscribe(creator_id: int, resources: Resources) -> str:
    """Ask the platform for the creator's subscription (a failure is retried by the job)."""
    creator = await Creator.get_or_none(id=creator_id)
    if creator is None:
        return "gone"
    async with platforms_of(resources) as platforms:
        try:
            await subscribe_creator(platforms, creator)
        except PlatformOffError as error:
            raise PermanentJobError(str(error)) from error
    return "asked"


@REGISTRY.task("jobs", UNSUBSCRIBE_TASK)
async def unsubscribe(creator_id: int, resources: Resources) -> str:
    """End the creator's subscription once no feed follows them, and forget the creator."""
    creator = await Creator.get_or_none(id=creator_id)
    if creator is None or await Feed.filter(creator_id=creator_id).exists():
        return "still followed" if creator else "gone"
    async with platforms_of(resources) as platforms:
        # A platform turned off has nothing of ours left to end.
        with contextlib.suppress(PlatformOffError):
            await unsubscribe_creator(platforms, creator)
    await Creator.filter(id=creator_id, feeds__id__isnull=True).delete()
    return "ended"


@REGISTRY.task("jobs", RENEW_TASK)
async def renew(resources: Resources) -> int:
    """Subscribe creators whose subscription failed, stayed unconfirmed, or whose lease ends
    soon; end the subscriptions nobody follows any more. Returns the jobs queued."""
    now = datetime.datetime.now(datetime.UTC)
    jobs = []
    async for creator in Creator.all().prefetch_related("feeds"):
        if not creator.feeds:
            jobs.append(encode_job(UNSUBSCRIBE_TASK, creator.id))
            continue
        if due_for_retry(creator, now):
            jobs.append(encode_job(SUBSCRIBE_TASK, creator.id))
        problem = subscription_problem(creator, now)
        if problem is not None:  # at most a day apart per creator, whatever the processes
            await raise_alert_once(
                resources.redis,
                resources.keyspace,
                condition=f"streams-creator-{creator.id}",
                within_seconds=86_400,
                source="streams.renew",
                level="warning",
                message=(
                    f"live alerts for {creator.platform.value} {creator.login} "
                    f"(followed by {len(creator.feeds)} feed(s)): {problem}"
                ),
            )
    try:
        async with platforms_of(resources) as platforms:
            lost = await lost_kick_subscriptions(platforms)
        jobs += [encode_job(SUBSCRIBE_TASK, creator.id) for creator in lost]
    except PlatformOffError:
        pass  # Kick is not watched here
    except PlatformError as error:  # asked again at the next renewal; the rest goes on
        logger.warning("streams.kick_subscriptions_unknown", error=str(error))
    # Streams (and their cards' rows) are kept long enough to edit any card, then dropped.
    await Stream.filter(ended_at__lt=now - KEEP_ENDED).delete()
    await queue_jobs(resources, jobs)
    return len(jobs)
