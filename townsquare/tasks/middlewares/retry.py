"""Retries with growing, jittered delays, then the dead-letter stream.

taskiq's SmartRetryMiddleware re-sends a failed task at once unless it is given a schedule
source, and a schedule source only fires at whole seconds. Sleeping in the worker instead
would hold a concurrency slot and lose the delay if the worker died. So a failed message is
parked, durably, in the pipeline's `retry` sorted set with its due time as the score, and its
stream entry is acknowledged in the same Lua call; every worker's retry pump moves due
messages back into the stream. After the last attempt, or on a :class:`PermanentJobError`,
the message goes to the dead-letter stream, again acknowledged in the same transaction.

Two rules keep a worker that is alive from looking like a dead one (issue 10):

- A task that failed because Redis did not answer (`BUSY`, a lost connection, a timeout:
  :func:`~townsquare.core.redis_health.is_unavailable`) has not used up an attempt: the job
  did nothing wrong, and its script may even still be running on the server. It is retried
  with the same attempt number, so an outage never dead-letters work.
- When the retry or the dead letter cannot be written (Redis still unavailable), the
  worker keeps the entry: it stays in flight, its claim renewed, and the write is tried
  again with a growing pause (at most :data:`RECORD_RETRY_MAX_SECONDS`) until Redis answers
  or the worker stops (then the entry is reclaimed elsewhere, as for any stopped worker).
"""

from __future__ import annotations

import asyncio
import random
import typing

import structlog
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import TaskiqMiddleware
from taskiq.exceptions import NoResultError

from townsquare.core.db_health import ALERT_CONDITION as DATABASE_ALERT
from townsquare.core.db_health import ALERT_DEDUP_SECONDS as DATABASE_ALERT_SECONDS
from townsquare.core.db_health import is_database_unavailable
from townsquare.core.db_health import outage_message as database_outage_message
from townsquare.core.redis_health import is_unavailable
from townsquare.tasks.backoff import retry_delay
from townsquare.tasks.dead_letters import dead_letter_fields, describe_error
from townsquare.tasks.delivery import current_delivery
from townsquare.tasks.errors import PermanentJobError, RedisTimeoutJobError
from townsquare.tasks.messages import attempt_of, original_payload, with_attempt

if typing.TYPE_CHECKING:
    from collections.abc import Callable

    from taskiq.message import TaskiqMessage
    from taskiq.result import TaskiqResult

    from townsquare.tasks.brokers.pipeline_broker import PipelineBroker

__all__ = ["RECORD_RETRY_MAX_SECONDS", "RetryMiddleware"]


def _backend_down(broker: PipelineBroker, exception: Exception) -> tuple[bool, bool]:
    """(Redis did not answer, PostgreSQL could not be reached): either is not the job's fault.

    Only Redis's own errors: a REST call's refused connection is an ordinary failure. A
    timeout is an attempt that counts: the command itself may be what keeps Redis busy (a
    script longer than the client's socket timeout), and running it again forever would
    block Redis forever.
    """
    lost = isinstance(exception, RedisError)
    if lost and is_unavailable(exception):
        broker.health.failed(exception)
    unavailable = (
        lost and is_unavailable(exception) and not isinstance(exception, RedisTimeoutError)
    )
    return unavailable, not unavailable and is_database_unavailable(exception)


async def _alert_database_down(broker: PipelineBroker, error: BaseException) -> None:
    """One operator alert per PostgreSQL outage (per minute), whichever worker sees it first;
    an alert that cannot be written is not worth holding the job for."""
    try:
        await broker.alert_once(
            DATABASE_ALERT, DATABASE_ALERT_SECONDS, database_outage_message(error)
        )
    except Exception as failure:  # Redis away too: the log says it
        logger.warning("tasks.database_alert_failed", error=describe_error(failure))


def _timed_out(error: RedisTimeoutError) -> RedisTimeoutJobError:
    """`error` (the client stopped waiting for Redis) said as what really happened."""
    wrapped = RedisTimeoutJobError(
        f"Redis did not answer the job's command within the client's socket timeout ({error}); "
        "it may have kept running on the server, and the worker kept the job until Redis "
        "answered again"
    )
    wrapped.__cause__ = error
    wrapped.__traceback__ = error.__traceback__
    return wrapped


RECORD_RETRY_MAX_SECONDS: typing.Final = 5.0
"""Longest pause between two tries to record a job's outcome while Redis does not answer."""
_RECORD_RETRY_FIRST_SECONDS = 0.1

logger = structlog.get_logger(__name__)


class RetryMiddleware(TaskiqMiddleware):
    """Retry policy of a :class:`PipelineBroker`, from its pipeline's settings."""

    def __init__(self, rand: Callable[[], float] = random.random) -> None:
        super().__init__()
        self._rand = rand

    async def on_error(
        self,
        message: TaskiqMessage,
        result: TaskiqResult[typing.Any],
        exception: BaseException,
    ) -> None:
        delivery = current_delivery()
        ack = None if delivery is None else delivery.ack
        if not isinstance(exception, Exception):
            # Cancelled by a shutdown, not failed: no attempt was used up. Leave the entry
            # pending; another worker reclaims it after the idle timeout.
            if ack is not None:
                ack.hold()
            logger.warning("tasks.interrupted", error=describe_error(exception))
            return
        if isinstance(exception, NoResultError):
            return
        broker = typing.cast("PipelineBroker", self.broker)
        settings = broker.settings
        attempt = attempt_of(message)
        payload = original_payload(message, delivery)
        permanent = isinstance(exception, PermanentJobError)
        unavailable, database_down = _backend_down(broker, exception)
        if isinstance(exception, RedisTimeoutError):
            exception = _timed_out(exception)
        pause = _RECORD_RETRY_FIRST_SECONDS
        while True:
            try:
                if (unavailable or database_down) and not permanent:
                    # Not the job's fault: the same attempt again, after the usual delay.
                    delay = retry_delay(
                        attempt,
                        settings.backoff_base_seconds,
                        settings.backoff_max_seconds,
                        self._rand,
                    )
                    await broker.defer(with_attempt(payload, attempt), delay, ack)
                    if database_down:
                        await _alert_database_down(broker, exception)
                    logger.warning(
                        "tasks.database_unavailable"
                        if database_down
                        else "tasks.redis_unavailable",
                        attempt=attempt,
                        delay_seconds=round(delay, 3),
                        error=describe_error(exception),
                    )
                elif attempt < settings.max_attempts and not permanent:
                    delay = retry_delay(
                        attempt,
                        settings.backoff_base_seconds,
                        settings.backoff_max_seconds,
                        self._rand,
                    )
                    await broker.defer(with_attempt(payload, attempt + 1), delay, ack)
                    logger.warning(
                        "tasks.retry_scheduled",
                        attempt=attempt,
                        max_attempts=settings.max_attempts,
                        delay_seconds=round(delay, 3),
                        error=describe_error(exception),
                    )
                else:
                    fields = dead_letter_fields(
                        payload, pipeline=broker.pipeline, error=exception, attempts=attempt
                    )
                    await broker.bury(fields, ack)
                    logger.error(
                        "tasks.dead_lettered",
                        attempt=attempt,
                        max_attempts=settings.max_attempts,
                        permanent=permanent,
                        error=fields["error"],
                    )
                return
            except Exception as error:
                if not is_unavailable(error):
                    # Not an outage: keep the entry pending so the job is reclaimed, not lost.
                    if ack is not None:
                        ack.hold()
                    logger.exception("tasks.retry_policy_failed", attempt=attempt)
                    return
                # Redis does not answer: keep the claim (the entry stays in flight and is
                # renewed) and try again; a stopping worker is cancelled here.
                broker.health.failed(error)
                logger.warning(
                    "tasks.outcome_not_recorded",
                    attempt=attempt,
                    retry_in_seconds=pause,
                    error=describe_error(error),
                )
                await asyncio.sleep(pause)
                pause = min(RECORD_RETRY_MAX_SECONDS, pause * 2)
