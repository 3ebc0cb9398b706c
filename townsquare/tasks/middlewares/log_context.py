"""Every log line written while a job runs carries the job's id, task name and attempt.

Bound in `pre_execute` and dropped in `post_execute`; the retry middleware's lines in between
carry them too. Each message is handled in its own asyncio task (a copy of the context), so
one job's binding never shows up in another's lines.
"""

from __future__ import annotations

import typing

import structlog
from taskiq import TaskiqMiddleware

from townsquare.tasks.messages import attempt_of

if typing.TYPE_CHECKING:
    from taskiq.message import TaskiqMessage
    from taskiq.result import TaskiqResult

__all__ = ["LOG_CONTEXT_KEYS", "LogContextMiddleware"]

LOG_CONTEXT_KEYS: typing.Final = ("job_id", "task_name", "pipeline", "attempt")


class LogContextMiddleware(TaskiqMiddleware):
    """Binds `job_id`, `task_name`, `pipeline` and `attempt` to structlog's context."""

    def __init__(self, pipeline: str) -> None:
        super().__init__()
        self.pipeline = pipeline

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        structlog.contextvars.bind_contextvars(
            job_id=message.task_id,
            task_name=message.task_name,
            pipeline=self.pipeline,
            attempt=attempt_of(message),
        )
        return message

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[typing.Any]) -> None:
        structlog.contextvars.unbind_contextvars(*LOG_CONTEXT_KEYS)
