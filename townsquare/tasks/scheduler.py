"""The scheduler: fires timed work, with exactly one active scheduler at a time.

`townsquare scheduler` calls :func:`run_scheduler`. Any number may be started (one per
machine, say); they compete for the `scheduler_lock` lease. The holder runs taskiq's
scheduler loop over the JSON schedule source and renews the lease every third of its TTL;
the others poll at that pace and the first to find the lease free takes over: at once when
the holder stops cleanly (it releases the lease), within the TTL when it dies. A holder that
cannot renew stops firing before its lease can have expired.

A one-off schedule is deleted right after it is queued; a scheduler dying between the two
leaves it to fire again after takeover, so scheduled tasks are idempotent like all tasks.

A cron schedule declared with `minute_kwarg` gets, in that keyword argument, the Unix minute
it fired in: a run delivered late (a worker killed under it, a backlog) still knows its
minute, rather than taking the minute it happens to run in for its own (the voice XP tick).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import typing

import structlog
from taskiq import ScheduleSource, TaskiqScheduler
from taskiq.api import run_scheduler_task
from taskiq.exceptions import ScheduledTaskCancelledError
from taskiq.kicker import AsyncKicker

from townsquare.core.observability import ProcessListener, redis_check
from townsquare.core.redis_client import connect_redis
from townsquare.core.redis_health import REDIS_FAILURES, cleanup_or_lapse
from townsquare.tasks._waiting import wait_or_stop
from townsquare.tasks.brokers import make_brokers
from townsquare.tasks.locks import RedisLease
from townsquare.tasks.metrics import SchedulerMetrics
from townsquare.tasks.registry import load_tasks
from townsquare.tasks.schedule_sources import MINUTE_KWARG_LABEL, make_schedule_source

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from taskiq import ScheduledTask

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.tasks.brokers import PipelineBroker
    from townsquare.tasks.registry import TaskRegistry

__all__ = ["UPDATE_INTERVAL_SECONDS", "PipelineScheduler", "run_scheduler"]

UPDATE_INTERVAL_SECONDS: typing.Final = 5.0
"""How often the active scheduler re-reads the schedules (taskiq's default is a minute)."""

logger = structlog.get_logger(__name__)


class PipelineScheduler(TaskiqScheduler):
    """A taskiq scheduler that queues each task on its own pipeline's stream."""

    def __init__(
        self,
        brokers: Mapping[str, PipelineBroker],
        registry: TaskRegistry,
        sources: list[ScheduleSource],
        metrics: SchedulerMetrics | None = None,
        *,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        super().__init__(broker=brokers["jobs"], sources=sources)
        self.brokers = dict(brokers)
        self.registry = registry
        self.metrics = metrics or SchedulerMetrics()
        self.clock = clock
        """The fire time (UTC); tests set it to fire a schedule as if at another time."""

    async def startup(self) -> None:
        for broker in self.brokers.values():
            await broker.startup()

    async def shutdown(self) -> None:
        for broker in self.brokers.values():
            await broker.shutdown()

    async def on_ready(self, source: ScheduleSource, task: ScheduledTask) -> None:
        pipeline = self.registry.pipeline_of(task.task_name)
        fired_at = self.clock()
        if pipeline is None:
            logger.error(
                "tasks.schedule_unknown_task",
                task_name=task.task_name,
                schedule_id=task.schedule_id,
            )
            return
        try:
            await _maybe_await(source.pre_send(task))
        except ScheduledTaskCancelledError:
            logger.info("tasks.schedule_cancelled", schedule_id=task.schedule_id)
            return
        labels = dict(task.labels)
        kwargs = dict(task.kwargs)
        minute_kwarg = labels.pop(MINUTE_KWARG_LABEL, None)
        if minute_kwarg is not None:
            kwargs[str(minute_kwarg)] = int(fired_at.timestamp()) // 60
        kicker: AsyncKicker[typing.Any, typing.Any] = AsyncKicker(
            task.task_name, self.brokers[pipeline], labels
        )
        sent = await (
            kicker.with_labels(schedule_id=task.schedule_id)
            .with_task_id(task.task_id)
            .kiq(*task.args, **kwargs)
        )
        self.metrics.fired(task, self.clock())
        logger.info(
            "tasks.schedule_fired",
            task_name=task.task_name,
            schedule_id=task.schedule_id,
            job_id=sent.task_id,
            pipeline=pipeline,
        )
        await _maybe_await(source.post_send(task))


async def run_scheduler(
    settings: Settings,
    redis_url: str,
    keyspace: Keyspace,
    *,
    shutdown: asyncio.Event | None = None,
    registry: TaskRegistry | None = None,
    update_interval_seconds: float = UPDATE_INTERVAL_SECONDS,
    lock_ttl_seconds: float | None = None,
    metrics_port: int | None = None,
) -> None:
    """Stand by for, then hold, the scheduler lease until `shutdown` is set.

    `lock_ttl_seconds` defaults to the keyspace's TTL of `scheduler_lock` (the time a dead
    scheduler's lease blocks a standby); tests shorten it. The `/metrics`, `/healthz` and
    `/readyz` listener takes `metrics_port` (default: `metrics.scheduler_port`; 0: none).
    """
    registry = registry if registry is not None else load_tasks()
    stop = shutdown if shutdown is not None else asyncio.Event()
    ttl = lock_ttl_seconds or float(keyspace.ttl("scheduler_lock") or 30)
    redis = connect_redis(redis_url)
    lease = RedisLease(redis, keyspace.key("scheduler_lock"), ttl)
    log = logger.bind(scheduler_token=lease.token)
    log.info("tasks.scheduler_standby")
    metrics = SchedulerMetrics()
    listener = ProcessListener("scheduler", metrics.registry, {"redis": redis_check(redis)})
    port = settings.metrics.scheduler_port if metrics_port is None else metrics_port
    try:
        if port:
            await listener.start(settings.metrics.host, port)
        while not stop.is_set():
            try:
                acquired = await lease.acquire()
            except REDIS_FAILURES:
                log.exception("tasks.scheduler_lock_failed")
                acquired = False
            if acquired:
                log.info("tasks.scheduler_active")
                metrics.active.set(1)
                try:
                    await _run_active(
                        settings,
                        redis_url,
                        keyspace,
                        registry=registry,
                        lease=lease,
                        stop=stop,
                        update_interval_seconds=update_interval_seconds,
                        metrics=metrics,
                    )
                finally:
                    metrics.active.set(0)
                log.info("tasks.scheduler_inactive")
            else:
                await wait_or_stop(stop, ttl / 3)
    finally:
        await listener.stop()
        await cleanup_or_lapse(lease.release(), key=lease.key)
        await redis.aclose()


async def _run_active(
    settings: Settings,
    redis_url: str,
    keyspace: Keyspace,
    *,
    registry: TaskRegistry,
    lease: RedisLease,
    stop: asyncio.Event,
    update_interval_seconds: float,
    metrics: SchedulerMetrics,
) -> None:
    """Fire schedules while the lease holds; return when stopping or when it is lost."""
    brokers = make_brokers(settings, redis_url, keyspace, registry=registry)
    for broker in brokers.values():
        broker.is_scheduler_process = True
    source = await make_schedule_source(redis_url, keyspace)
    scheduler = PipelineScheduler(brokers, registry, [source], metrics)
    await scheduler.startup()
    loop = asyncio.create_task(
        run_scheduler_task(
            scheduler,
            run_startup=False,
            interval=datetime.timedelta(seconds=update_interval_seconds),
        )
    )
    try:
        while not await wait_or_stop(stop, lease.ttl_ms / 3000):
            if loop.done():
                loop.result()  # the loop only ends by raising; surface why
            try:
                renewed = await lease.renew()
            except REDIS_FAILURES:
                logger.exception("tasks.scheduler_renew_failed")
                renewed = False
            if not renewed:
                logger.warning("tasks.scheduler_lease_lost")
                return
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
        await scheduler.shutdown()
        await source.shutdown()


async def _maybe_await(value: typing.Any) -> None:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        await value
