"""Prometheus metrics of a worker and of the scheduler (docs/metrics.md).

Workers: every task run counted by pipeline, task and outcome (`success`, `retry`,
`dead_letter`, `interrupted`) with its duration, from a taskiq middleware; and, refreshed
every :data:`QUEUE_REFRESH_SECONDS` from Redis, each pipeline's stream length, pending
(delivered, unacknowledged) entries, parked retries and dead letters.

The scheduler: the jobs that came due and were queued, by task, how late each was queued
(one-off schedules against their time, cron schedules against their minute), and whether this
scheduler holds the lease.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from taskiq import TaskiqMiddleware
from taskiq.exceptions import NoResultError

from townsquare.core.redis_health import is_unavailable
from townsquare.tasks._waiting import wait_or_stop
from townsquare.tasks.errors import PermanentJobError
from townsquare.tasks.messages import attempt_of

if typing.TYPE_CHECKING:
    import asyncio
    from collections.abc import Sequence

    import redis.asyncio as aioredis
    from taskiq import ScheduledTask
    from taskiq.message import TaskiqMessage
    from taskiq.result import TaskiqResult

    from townsquare.core.keyspace import Keyspace
    from townsquare.tasks.brokers.pipeline_broker import PipelineBroker

__all__ = [
    "QUEUE_REFRESH_SECONDS",
    "MetricsMiddleware",
    "SchedulerMetrics",
    "WorkerMetrics",
    "refresh_queue_gauges",
]

QUEUE_REFRESH_SECONDS: typing.Final = 5.0

logger = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerMetrics:
    registry: CollectorRegistry
    tasks: Counter
    duration: Histogram
    queue_length: Gauge
    pending: Gauge
    retry_waiting: Gauge
    dead_letters: Gauge

    @classmethod
    def create(cls) -> WorkerMetrics:
        registry = CollectorRegistry()

        def per_pipeline(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, ["pipeline"], registry=registry)

        return cls(
            registry=registry,
            tasks=Counter(
                "townsquare_tasks",
                "Task runs by pipeline, task and outcome (success, retry, dead_letter, "
                "interrupted).",
                ["pipeline", "task", "outcome"],
                registry=registry,
            ),
            duration=Histogram(
                "townsquare_task_seconds",
                "Time a task run took, by pipeline and task.",
                ["pipeline", "task"],
                registry=registry,
            ),
            queue_length=per_pipeline(
                "townsquare_queue_length", "Entries in a pipeline's stream (read every 5 s)."
            ),
            pending=per_pipeline(
                "townsquare_queue_pending",
                "A pipeline's entries delivered to a worker and not yet acknowledged.",
            ),
            retry_waiting=per_pipeline(
                "townsquare_retries_waiting", "Failed jobs parked for their next attempt."
            ),
            dead_letters=per_pipeline(
                "townsquare_dead_letters", "Jobs in a pipeline's dead-letter stream."
            ),
        )


class MetricsMiddleware(TaskiqMiddleware):
    """Counts each task run of its broker's pipeline, with the outcome the retry policy
    gives it (the same rules as `RetryMiddleware`)."""

    def __init__(self, metrics: WorkerMetrics) -> None:
        super().__init__()
        self._metrics = metrics

    def _pipeline(self) -> str:
        return typing.cast("PipelineBroker", self.broker).pipeline

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[typing.Any]) -> None:
        pipeline = self._pipeline()
        self._metrics.duration.labels(pipeline, message.task_name).observe(result.execution_time)
        if not result.is_err:
            self._metrics.tasks.labels(pipeline, message.task_name, "success").inc()

    def on_error(
        self,
        message: TaskiqMessage,
        result: TaskiqResult[typing.Any],
        exception: BaseException,
    ) -> None:
        if isinstance(exception, NoResultError):
            return
        broker = typing.cast("PipelineBroker", self.broker)
        if not isinstance(exception, Exception):
            outcome = "interrupted"
        elif is_unavailable(exception) and not isinstance(exception, PermanentJobError):
            outcome = "retry"
        elif (
            isinstance(exception, PermanentJobError)
            or attempt_of(message) >= broker.settings.max_attempts
        ):
            outcome = "dead_letter"
        else:
            outcome = "retry"
        self._metrics.tasks.labels(broker.pipeline, message.task_name, outcome).inc()


async def refresh_queue_gauges(
    metrics: WorkerMetrics,
    redis: aioredis.Redis,
    keyspace: Keyspace,
    pipelines: Sequence[str],
    stop: asyncio.Event,
) -> None:
    """Read each pipeline's stream, pending, retry and dead-letter counts until `stop`."""
    while True:
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for pipeline in pipelines:
                    pipe.xlen(keyspace.key("stream", pipeline))
                    pipe.zcard(keyspace.key("retry", pipeline))
                    pipe.xlen(keyspace.key("dead_letter", pipeline))
                replies = await pipe.execute()
            for index, pipeline in enumerate(pipelines):
                length, retries, dead = replies[3 * index : 3 * index + 3]
                metrics.queue_length.labels(pipeline).set(length)
                metrics.retry_waiting.labels(pipeline).set(retries)
                metrics.dead_letters.labels(pipeline).set(dead)
                metrics.pending.labels(pipeline).set(
                    await _pending(redis, keyspace.key("stream", pipeline))
                )
        except Exception as error:  # metrics never stop the worker; /readyz tells of Redis
            logger.debug("metrics.queue_refresh_failed", error=str(error))
        if await wait_or_stop(stop, QUEUE_REFRESH_SECONDS):
            return


async def _pending(redis: aioredis.Redis, stream: str) -> int:
    try:
        groups = await redis.xinfo_groups(stream)
    except Exception:  # no stream yet
        return 0
    return sum(int(group.get("pending") or 0) for group in groups)


class SchedulerMetrics:
    """The scheduler's registry and metrics."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        due_doc = "Scheduled jobs that came due and were queued, by task."
        late_doc = "How late a due job was queued (one-off: after its time; cron: its minute)."
        active_doc = "1 while this scheduler holds the lease and fires schedules, 0 on standby."
        self.due = Counter("townsquare_scheduler_jobs_due", due_doc, ["task"], registry=registry)
        self.late = Histogram(
            "townsquare_scheduler_late_seconds",
            late_doc,
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=registry,
        )
        self.active = Gauge("townsquare_scheduler_active", active_doc, registry=registry)

    def fired(self, task: ScheduledTask, now: datetime.datetime) -> None:
        """Count one queued job and how late it came."""
        self.due.labels(task.task_name).inc()
        due_at: datetime.datetime | None = None
        if task.time is not None:
            due_at = task.time if task.time.tzinfo else task.time.replace(tzinfo=datetime.UTC)
        elif task.cron is not None:
            due_at = now.replace(second=0, microsecond=0)
        if due_at is not None:
            self.late.observe(max(0.0, (now - due_at).total_seconds()))
