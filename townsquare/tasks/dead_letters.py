"""Dead letters: what a job that failed every attempt leaves behind, and how to replay it.

Each dead letter is one entry of the pipeline's `dead_letter` stream, all fields text, as
`townsquare.core.dead_letters` describes them (where they are read, replayed and dropped).

Writing them lives here; reading, replaying and dropping live in
:mod:`townsquare.core.dead_letters` (re-exported: `replay_dead_letter`), so the console can
use them without importing the task package.

Messages can hold member ids and message text, so the stream is capped
(`tasks.dead_letter_maxlen`) and operators replay or delete entries rather than keep them.
"""

from __future__ import annotations

import datetime
import json
import traceback
import typing
from pathlib import PurePath

from townsquare.core.dead_letters import replay_dead_letter, with_attempt

__all__ = [
    "ERROR_LIMIT",
    "TRACEBACK_FRAMES",
    "TRACEBACK_LIMIT",
    "dead_letter_fields",
    "describe_error",
    "replay_dead_letter",
    "traceback_summary",
]

TRACEBACK_FRAMES: typing.Final = 6
"""Innermost frames kept: where it failed, not the worker machinery above it."""
TRACEBACK_LIMIT: typing.Final = 2000
ERROR_LIMIT: typing.Final = 1000


def describe_error(error: BaseException) -> str:
    """`module.Type: message`, bounded; builtins keep their bare name."""
    kind = type(error)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    text = f"{name}: {error}"
    return text if len(text) <= ERROR_LIMIT else text[: ERROR_LIMIT - 1] + "…"


def traceback_summary(error: BaseException) -> str:
    """The innermost frames as `dir/file.py:line in function: source`, bounded in length."""
    frames = traceback.extract_tb(error.__traceback__)[-TRACEBACK_FRAMES:]
    lines = [
        f"{PurePath(*PurePath(frame.filename).parts[-2:])}:{frame.lineno} in {frame.name}: "
        f"{(frame.line or '').strip()}"
        for frame in frames
    ]
    text = "\n".join(lines)
    return text if len(text) <= TRACEBACK_LIMIT else "…" + text[-(TRACEBACK_LIMIT - 1) :]


def dead_letter_fields(
    payload: dict[str, typing.Any],
    *,
    pipeline: str,
    error: BaseException,
    attempts: int,
    failed_at: datetime.datetime | None = None,
) -> dict[str, str]:
    """The stream fields of a dead letter for the queued message `payload`."""
    failed_at = failed_at or datetime.datetime.now(datetime.UTC)
    return {
        "task_name": str(payload.get("task_name", "")),
        "task_id": str(payload.get("task_id", "")),
        "pipeline": pipeline,
        "args": json.dumps(payload.get("args", [])),
        "kwargs": json.dumps(payload.get("kwargs", {})),
        "labels": json.dumps(payload.get("labels", {})),
        "error": describe_error(error),
        "traceback": traceback_summary(error),
        "attempts": str(attempts),
        "failed_at": failed_at.isoformat(),
        "message": with_attempt(payload, None).decode(),
    }
