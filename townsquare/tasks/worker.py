"""A worker process: consumers for the chosen pipelines, their retry pumps and claim renewal.

`townsquare worker [--pipelines xp,automod]` calls :func:`run_worker`. One process serves
any subset of pipelines; each pipeline gets its own taskiq receiver (with that pipeline's
concurrency limit), a retry pump that moves due retries back into the stream, and a loop
that renews the claim on messages still running. Reclaiming messages of dead workers happens
inside each broker's listen loop (see :mod:`townsquare.tasks.brokers.pipeline_broker`).
"""

from __future__ import annotations

import asyncio
import gc
import typing

import structlog
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from townsquare.core.features import pipeline_names
from townsquare.core.observability import ProcessListener, postgres_check, redis_check
from townsquare.core.redis_client import connect_redis
from townsquare.core.redis_health import (
    CHECK_TIMEOUT_SECONDS,
    REDIS_FAILURES,
    RedisHealth,
    watch_redis,
)
from townsquare.tasks._waiting import wait_or_stop
from townsquare.tasks.brokers import make_brokers
from townsquare.tasks.brokers.pipeline_broker import RENEW_RETRY_SECONDS
from townsquare.tasks.dead_letters import describe_error
from townsquare.tasks.metrics import MetricsMiddleware, WorkerMetrics, refresh_queue_gauges
from townsquare.tasks.receiver import PipelineReceiver
from townsquare.tasks.registry import load_tasks, validate_pipelines
from townsquare.tasks.resources import TaskResources

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.tasks.brokers import PipelineBroker
    from townsquare.tasks.registry import TaskRegistry

__all__ = ["DRAIN_SECONDS", "run_worker"]

DRAIN_SECONDS: typing.Final = 10.0
"""On shutdown, how long running tasks may finish; the rest stay pending and are reclaimed."""
_RESTART_DELAY_SECONDS = 1.0
_CLIENT_RETRIES = 3
_CLIENT_RETRY_BASE = 0.1
_CLIENT_RETRY_CAP = 1.0
_PUMP_POLL_MAX_SECONDS = 1.0
_PUMP_POLL_MIN_SECONDS = 0.01
_GC_THRESHOLDS: typing.Final = (50_000, 20, 100)
"""The collector's thresholds in a worker: a young collection every 50,000 net allocations
(CPython's default is 2,000; a batch of 200 records allocates tens of thousands of objects,
most freed at once by reference counting), older ones as by default. Fewer, not longer,
collections: what survives is frozen (see :func:`_freeze_startup_objects`)."""

logger = structlog.get_logger(__name__)


async def run_worker(
    settings: Settings,
    redis_url: str,
    keyspace: Keyspace,
    pipelines: Sequence[str] | None = None,
    *,
    shutdown: asyncio.Event | None = None,
    registry: TaskRegistry | None = None,
    metrics_port: int | None = None,
) -> None:
    """Consume `pipelines` until `shutdown` is set (or the call is cancelled).

    `registry` defaults to the platform's tasks (:func:`load_tasks`); tests pass their own.
    An unknown pipeline name raises :class:`ValueError` before anything starts. The
    `/metrics`, `/healthz` and `/readyz` listener takes `metrics_port` (default:
    `metrics.worker_port`; 0: none).
    """
    chosen = validate_pipelines(pipeline_names() if pipelines is None else pipelines)
    registry = registry if registry is not None else load_tasks()
    stop = shutdown if shutdown is not None else asyncio.Event()
    brokers = make_brokers(settings, redis_url, keyspace, chosen, registry=registry)
    # redis-py retries a command that timed out (5 s by default) up to three times on its
    # own; for a script that outlived the timeout that means running it again, while it may
    # still be running, and again. Tasks get a client that retries only refused or lost
    # connections; a timeout ends the attempt (RedisTimeoutJobError), and the retry policy
    # re-runs it once Redis answers.
    # Its pool waits for a free connection (`redis.max_connections`, 512 by default): with
    # redis-py's own limit (100, then `MaxConnectionsError`) a worker with hundreds of
    # assistant questions in flight failed jobs (benchmarks/bench_assistant_answers.py).
    redis = connect_redis(
        redis_url,
        max_connections=settings.redis.max_connections,
        wait_for_connection=settings.redis.connection_wait_seconds,
        retry=Retry(
            ExponentialWithJitterBackoff(base=_CLIENT_RETRY_BASE, cap=_CLIENT_RETRY_CAP),
            _CLIENT_RETRIES,
            supported_errors=(RedisConnectionError,),
        ),
    )
    # The watcher's own client times out, so a server that stopped answering is noticed.
    watcher = connect_redis(
        redis_url,
        socket_timeout=CHECK_TIMEOUT_SECONDS,
        socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),  # each failed check is a failure, not a retry
    )
    health = RedisHealth()
    resources = TaskResources(settings=settings, keyspace=keyspace, redis=redis)
    started: list[PipelineBroker] = []
    log = logger.bind(pipelines=list(chosen))
    metrics = WorkerMetrics.create()
    listener = ProcessListener(
        "worker",
        metrics.registry,
        {"redis": redis_check(watcher), "postgresql": postgres_check()},
    )
    port = settings.metrics.worker_port if metrics_port is None else metrics_port
    try:
        if port:
            await listener.start(settings.metrics.host, port)
        for broker in brokers.values():
            broker.is_worker_process = True
            broker.health = health
            broker.add_dependency_context({TaskResources: resources})
            broker.add_middlewares(MetricsMiddleware(metrics))
            await broker.startup()
            started.append(broker)
        _freeze_startup_objects()
        log.info(
            "tasks.worker_started",
            consumers={name: broker.consumer_name for name, broker in brokers.items()},
        )
        async with asyncio.TaskGroup() as group:
            group.create_task(watch_redis(watcher, keyspace, health, stop, source="tasks.worker"))
            group.create_task(refresh_queue_gauges(metrics, watcher, keyspace, chosen, stop))
            for broker in brokers.values():
                group.create_task(_receive(broker, stop))
                group.create_task(_pump_retries(broker, stop))
                group.create_task(_renew_claims(broker, stop))
    finally:
        await listener.stop()
        for broker in started:
            await broker.shutdown()
        await resources.rest.close()
        await redis.aclose()
        await watcher.aclose()
        log.info("tasks.worker_stopped")


def _freeze_startup_objects() -> None:
    """Move everything alive after start-up (modules, settings, clients) out of the collector.

    A full collection otherwise walks all of it: 100-250 ms in which no job runs, the tail of
    the level-up latency. Frozen objects are never scanned (they are still freed by reference
    counting); the worker allocates little that lives long after this point. Each start
    freezes what is alive then (a second worker in the same process, as in tests, adds its own).
    """
    gc.collect()
    gc.set_threshold(*_GC_THRESHOLDS)
    gc.freeze()


async def _receive(broker: PipelineBroker, stop: asyncio.Event) -> None:
    """Run a receiver until `stop`; a lost Redis connection restarts it after a pause."""
    while not stop.is_set():
        receiver = PipelineReceiver(
            broker=broker,
            max_async_tasks=broker.settings.max_concurrent_tasks,
            run_startup=False,
            wait_tasks_timeout=DRAIN_SECONDS,
        )
        try:
            await receiver.listen(stop)
        except Exception as error:
            if not _is_transient(error):
                raise
            broker.health.failed(error)
            # Expected and handled (the watcher logs the outage itself): no traceback.
            logger.warning(
                "tasks.receiver_restarting", pipeline=broker.pipeline, error=_describe(error)
            )
            if await wait_or_stop(stop, _RESTART_DELAY_SECONDS):
                return
            try:
                # The stream or its group may be gone (deleted by an operator): recreate.
                await broker.declare_group()
            except REDIS_FAILURES as error:
                broker.health.failed(error)
                logger.warning(
                    "tasks.declare_group_failed", pipeline=broker.pipeline, error=_describe(error)
                )


def _describe(error: BaseException) -> str:
    """:func:`describe_error` of a lost connection, or of each in the receiver's group."""
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(_describe(inner) for inner in error.exceptions)
    return describe_error(error)


def _is_transient(error: BaseException) -> bool:
    """Whether `error` (possibly grouped by the receiver's task group) is a lost connection."""
    if isinstance(error, BaseExceptionGroup):
        return all(_is_transient(inner) for inner in error.exceptions)
    return isinstance(error, REDIS_FAILURES)


async def _pump_retries(broker: PipelineBroker, stop: asyncio.Event) -> None:
    """Move due retries back into the stream, waking when the next one is due.

    Polls at least every half backoff base (capped at a second), because other workers may
    park retries that fall due sooner than the earliest one seen here; equal jitter makes
    every delay at least half the base, so no retry waits much past its due time.
    """
    poll = min(
        _PUMP_POLL_MAX_SECONDS,
        max(_PUMP_POLL_MIN_SECONDS, broker.settings.backoff_base_seconds / 2),
    )
    while not stop.is_set():
        try:
            next_due = await broker.move_due_retries()
        except REDIS_FAILURES as error:
            broker.health.failed(error)
            logger.warning(
                "tasks.retry_pump_failed", pipeline=broker.pipeline, error=_describe(error)
            )
            next_due = _RESTART_DELAY_SECONDS
        await wait_or_stop(stop, poll if next_due is None else min(poll, next_due))


async def _renew_claims(broker: PipelineBroker, stop: asyncio.Event) -> None:
    """Every third of the idle timeout, renew the claim on messages still running here.

    After a failed renewal it tries again every second: when Redis answers after an outage,
    this worker's entries are renewed before any other worker would reclaim them (they wait
    :meth:`~PipelineBroker.reclaim_quiet_seconds` after their own last failure).
    """
    interval = broker.settings.idle_timeout_seconds / 3
    wait = interval
    while not await wait_or_stop(stop, wait):
        try:
            await broker.touch_in_flight()
        except REDIS_FAILURES as error:
            broker.health.failed(error)
            logger.warning(
                "tasks.claim_renewal_failed", pipeline=broker.pipeline, error=_describe(error)
            )
            wait = min(interval, RENEW_RETRY_SECONDS)
        else:
            wait = interval
