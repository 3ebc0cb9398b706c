"""`alerts.deliver` (`jobs`): one alert delivery round, queued by the scheduler (docs/alerts.md).

The rules are the kernel's (:mod:`townsquare.core.alert_delivery`); this adapter holds the
delivery lease (one round at a time across every worker), finds Discord, and looks a guild's
log channel up in its configuration (the moderation section's `log_channel_id`).
"""

from __future__ import annotations

import functools
import typing

import structlog
from taskiq import TaskiqDepends

from townsquare.core.alert_delivery import deliver_round
from townsquare.core.alerts import raise_alert_once
from townsquare.core.discord import resolve_discord_target
from townsquare.core.features import Schedule
from townsquare.tasks.activity import activity_schedule
from townsquare.tasks.locks import RedisLease
from townsquare.tasks.registry import REGISTRY

# Needed at run time: taskiq resolves the annotation to inject the worker's resources.
from townsquare.tasks.resources import TaskResources  # noqa: TC001

if typing.TYPE_CHECKING:
    from townsquare.core.settings import Settings

__all__ = ["DELIVER_TASK", "deliver", "guild_log_channel", "kernel_schedules"]

DELIVER_TASK: typing.Final = "alerts.deliver"
FAILING_ALERT_SECONDS: typing.Final = 600
"""A failing delivery raises one operator alert per this many seconds (console only, then)."""

logger = structlog.get_logger(__name__)


def kernel_schedules(settings: Settings) -> tuple[Schedule, ...]:
    """The kernel's recurring work, installed by the scheduler next to the features'."""
    return (
        Schedule(
            "alerts-deliver",
            DELIVER_TASK,
            interval_seconds=settings.alerting.deliver_interval_seconds,
        ),
        activity_schedule(),  # the overview's rollups (townsquare.tasks.activity)
    )


async def guild_log_channel(resources: TaskResources, guild_id: int) -> int | None:
    """The guild's log channel: its configuration's moderation `log_channel_id`, or None."""
    config = await resources.guild_config(guild_id)
    moderation = getattr(config, "moderation", None)
    channel = getattr(moderation, "log_channel_id", None)
    return channel if isinstance(channel, int) else None


@REGISTRY.task("jobs", DELIVER_TASK)
async def deliver(resources: typing.Annotated[TaskResources, TaskiqDepends()]) -> int:
    """Route, deduplicate and send what is due; returns the messages delivered (0 when another
    worker's round holds the lease)."""
    keyspace = resources.keyspace
    ttl = float(keyspace.ttl("alert_delivery_lock") or 30)
    lease = RedisLease(resources.redis, keyspace.key("alert_delivery_lock"), ttl)
    async with lease.held() as acquired:
        if not acquired:
            return 0
        try:
            result = await deliver_round(
                resources.redis,
                keyspace,
                resources.settings.alerting,
                target=resources.discord or resolve_discord_target(resources.settings),
                log_channel_of=functools.partial(guild_log_channel, resources),
                deadline_seconds=ttl / 2,
            )
        except Exception as error:
            # Not retried as a job: the next round (seconds away) is the retry, and a round
            # that fails on every try (Discord not found, PostgreSQL away) must not pile up
            # dead letters. What waits stays in the stream and the outbox.
            logger.exception("alerts.round_failed")
            await raise_alert_once(
                resources.redis,
                keyspace,
                condition="alert_delivery_failing",
                within_seconds=FAILING_ALERT_SECONDS,
                source="alerts.deliver",
                message=f"alert delivery rounds fail ({type(error).__name__}: {error}); "
                "alerts wait in the console until it works again",
            )
            return 0
    if result.sent or result.waiting:
        logger.info(
            "alerts.round",
            routed=result.routed,
            sent=len(result.sent),
            waiting=result.waiting,
        )
    return len(result.sent)
