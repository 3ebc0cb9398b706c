"""The queued-job format, for producers that may not import `townsquare.tasks`.

Shards and the HTTP service XADD jobs straight into a pipeline stream (`Keyspace.key("stream",
pipeline)`) as one entry with one field, `data`: taskiq's message as JSON. This is the same
format `PipelineBroker.enqueue` writes (docs/tasks.md); a test in tests/integration checks that
a job encoded here runs on a real worker.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

__all__ = ["DATA_FIELD", "encode_job"]

DATA_FIELD = "data"


def encode_job(task_name: str, *args: Any, task_id: str | None = None, **kwargs: Any) -> bytes:
    """A taskiq message calling `task_name(*args, **kwargs)`; arguments must be JSON values.

    Compact JSON in UTF-8 (orjson: a shard encodes every record through here, and the
    stdlib's encoder was a seventh of a busy shard's CPU).
    """
    return orjson.dumps(
        {
            "task_id": task_id or uuid.uuid4().hex,
            "task_name": task_name,
            "labels": {},
            "labels_types": {},
            "args": list(args),
            "kwargs": kwargs,
        }
    )
