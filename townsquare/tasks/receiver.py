"""The worker's taskiq receiver: sets the current delivery and keeps what it cannot run.

taskiq's receiver acknowledges, and so drops, a message it cannot parse or whose task it does
not know (a producer running newer code than the worker, a typo in a task name). Here such a
message goes to the dead-letter stream instead, where an operator can replay it once a worker
knows the task.
"""

from __future__ import annotations

import typing

import structlog
from taskiq import AckableMessage
from taskiq.receiver import Receiver

from townsquare.tasks.brokers import PipelineBroker
from townsquare.tasks.dead_letters import dead_letter_fields
from townsquare.tasks.delivery import Delivery, StreamAck, delivering
from townsquare.tasks.errors import UnknownTaskError
from townsquare.tasks.messages import attempt_of, original_payload

__all__ = ["PipelineReceiver"]

logger = structlog.get_logger(__name__)


class PipelineReceiver(Receiver):
    """taskiq's receiver for a :class:`PipelineBroker`."""

    async def callback(self, message: bytes | AckableMessage, raise_err: bool = False) -> None:
        if isinstance(message, AckableMessage):
            ack = message.ack if isinstance(message.ack, StreamAck) else None
            if ack is not None and isinstance(self.broker, PipelineBroker):
                self.broker.started(ack.message_id)
            delivery = Delivery(message.data, ack)
        else:
            delivery = Delivery(message, None)
        try:
            with delivering(delivery):
                if not await self._kept_unrunnable(delivery):
                    await super().callback(message, raise_err)
        except BaseException:
            # Failed outside the task (dead-lettering during a Redis blip, a middleware):
            # left pending for a reclaim, not renewed here forever as if still running.
            if delivery.ack is not None and not delivery.ack.settled:
                delivery.ack.hold()
            raise

    async def _kept_unrunnable(self, delivery: Delivery) -> bool:
        """Dead-letter `delivery` if no task here can run it; True when it did."""
        broker = self.broker
        if not isinstance(broker, PipelineBroker):
            return False
        try:
            parsed = broker.formatter.loads(delivery.raw)
        except Exception as error:  # anything the formatter rejects is unreadable
            problem = UnknownTaskError(f"not a task message: {error}")
            payload: dict[str, typing.Any] = {}
            attempts = 0
        else:
            if broker.find_task(parsed.task_name) is not None:
                return False
            problem = UnknownTaskError(
                f"no task {parsed.task_name!r} on pipeline {broker.pipeline!r}; "
                "is its module listed in TASK_MODULES?"
            )
            payload = original_payload(parsed, delivery)
            attempts = attempt_of(parsed) - 1
        fields = dead_letter_fields(
            payload, pipeline=broker.pipeline, error=problem, attempts=attempts
        )
        if not payload:
            fields["message"] = delivery.raw.decode("utf-8", "replace")
        await broker.bury(fields, delivery.ack)
        logger.error(
            "tasks.dead_lettered",
            job_id=fields["task_id"],
            task_name=fields["task_name"],
            pipeline=broker.pipeline,
            error=fields["error"],
        )
        return True
