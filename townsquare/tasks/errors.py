"""Exceptions a task raises to steer the retry policy."""

from __future__ import annotations

__all__ = ["AbandonedJobError", "PermanentJobError", "RedisTimeoutJobError", "UnknownTaskError"]


class PermanentJobError(Exception):
    """A failure that another attempt cannot fix (bad input, a deleted guild).

    The job goes to the dead-letter stream at once instead of waiting out its retries.
    """


class AbandonedJobError(Exception):
    """Recorded in a dead letter: every worker that took the job died before finishing it."""


class UnknownTaskError(Exception):
    """Recorded in a dead letter: no worker of the pipeline knows the task (or the message
    was not a task message at all), so it is kept for an operator instead of dropped."""


class RedisTimeoutJobError(Exception):
    """Recorded in a dead letter: an attempt ended because Redis did not answer the job's
    command within the client's socket timeout. The command may have kept running on the
    server (a long script blocks every client until it ends), so the worker kept the job and
    recorded this only once Redis answered again."""
