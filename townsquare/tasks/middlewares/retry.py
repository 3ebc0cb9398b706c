"""Retries with growing, jittered delays, then the dead-letter stream.

taskiq's SmartRetryMiddleware re-sends a failed task at once unless it is given a schedule
source, and a schedule source only fires at whole seconds. Sleeping in the worker instead
would hold a concurrency slot and lose the delay if the worker died. So a failed message is
parked, durably, in the pipeline's `retry` sorted set with its due time as the score, and its
stream entry is acknowledged in the same Lua call; every worker's retry pump moves due
messages back into the stream. After the last attempt, or on a :class:`PermanentJobError`,
the message goes to the dead-letter stream, again acknowledged in the same transaction.
"""

from __future__ import annotations

import random
import typing

import structlog
from taskiq import TaskiqMiddleware
from taskiq.exceptions import NoResultError

from townsquare.tasks.backoff import retry_delay
from townsquare.tasks.dead_letters import dead_letter_fields, describe_error
from townsquare.tasks.delivery import current_delivery
from townsquare.tasks.errors import PermanentJobError
from townsquare.tasks.messages import attempt_of, original_payload, with_attempt

if typing.TYPE_CHECKING:
    from collections.abc import Callable

    from taskiq.message import TaskiqMessage
    from taskiq.result import TaskiqResult

    from townsquare.tasks.brokers.pipeline_broker import PipelineBroker

__all__ = ["RetryMiddleware"]

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
        try:
            if attempt < settings.max_attempts and not permanent:
                delay = retry_delay(
                    attempt, settings.backoff_base_seconds, settings.backoff_max_seconds, self._rand
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
        except Exception:
            # Redis failed us: keep the entry pending so the job is reclaimed, not lost.
            if ack is not None:
                ack.hold()
            logger.exception("tasks.retry_policy_failed", attempt=attempt)
