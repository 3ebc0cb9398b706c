"""Dead letters: reading, replaying and dropping jobs that failed every attempt.

Workers write dead letters (`townsquare.tasks.dead_letters.dead_letter_fields`); operators read
and act on them here, from the console or a script, without importing `townsquare.tasks`.
Each dead letter is one entry of the pipeline's `dead_letter` stream, all fields text:

- `task_name`, `task_id`, `pipeline`
- `args`, `kwargs`, `labels`: JSON, as queued
- `error`: exception type and message; `traceback`: the last frames, one per line
- `attempts`: how many attempts ran; `failed_at`: ISO 8601 UTC
- `message`: the queued message itself (JSON), which :func:`replay_dead_letter` re-queues

The attempt number of a queued job travels in its `attempt` label (absent on the first
attempt); a replay removes it, so the job starts again from attempt 1.

Operator actions take an optional :class:`~townsquare.core.audit.service.Actor`: with one,
an audit entry (`dead_letter.replay` or `dead_letter.drop`) is written after the Redis change,
so the ORM must be connected.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import typing

from townsquare.core.audit.service import record
from townsquare.core.replies import as_text

if typing.TYPE_CHECKING:
    from collections.abc import Mapping

    import redis.asyncio as aioredis

    from townsquare.core.audit.service import Actor
    from townsquare.core.keyspace import Keyspace

__all__ = [
    "ATTEMPT_LABEL",
    "DeadLetter",
    "drop_dead_letter",
    "get_dead_letter",
    "list_dead_letters",
    "replay_all_dead_letters",
    "replay_dead_letter",
    "with_attempt",
]

ATTEMPT_LABEL: typing.Final = "attempt"
_REPLAY_BATCH = 100
_INT_LABEL_TYPE: typing.Final = 2
"""`taskiq.labels.LabelType.INT`: how a taskiq message marks an int label. The kernel writes
taskiq's wire format without importing taskiq (a replay from the console must not load it);
tests/integration/test_dead_letters_core.py replays through a real worker."""


def _text(value: bytes | str | None) -> str:
    return as_text(value, errors="replace")


def with_attempt(payload: dict[str, typing.Any], attempt: int | None) -> bytes:
    """`payload` as JSON with its attempt label set to `attempt` (removed when None)."""
    labels = dict(payload.get("labels") or {})
    labels_types = dict(payload.get("labels_types") or {})
    if attempt is None:
        labels.pop(ATTEMPT_LABEL, None)
        labels_types.pop(ATTEMPT_LABEL, None)
    else:
        labels[ATTEMPT_LABEL], labels_types[ATTEMPT_LABEL] = str(attempt), _INT_LABEL_TYPE
    return json.dumps({**payload, "labels": labels, "labels_types": labels_types}).encode()


@dataclasses.dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead letter as stored; fields a writer left out are empty."""

    pipeline: str
    entry_id: str
    task_name: str
    task_id: str
    error: str
    traceback: str
    attempts: int
    failed_at: datetime.datetime | None
    args: str
    kwargs: str
    labels: str
    message: str | None
    """What a replay queues; None when the entry has none (it cannot be replayed)."""

    @classmethod
    def from_entry(
        cls,
        pipeline: str,
        entry_id: bytes | str | None,
        fields: Mapping[bytes | str, bytes | str] | None,
    ) -> DeadLetter:
        text = {_text(key): _text(value) for key, value in (fields or {}).items()}
        try:
            attempts = int(text.get("attempts", "0"))
        except ValueError:
            attempts = 0
        try:
            failed_at: datetime.datetime | None = datetime.datetime.fromisoformat(text["failed_at"])
        except (KeyError, ValueError):
            failed_at = None
        return cls(
            pipeline=pipeline,
            entry_id=_text(entry_id or ""),
            task_name=text.get("task_name", ""),
            task_id=text.get("task_id", ""),
            error=text.get("error", ""),
            traceback=text.get("traceback", ""),
            attempts=attempts,
            failed_at=failed_at,
            args=text.get("args", ""),
            kwargs=text.get("kwargs", ""),
            labels=text.get("labels", ""),
            message=text.get("message"),
        )

    def summary(self) -> dict[str, typing.Any]:
        """What the audit log keeps about this dead letter (not its arguments)."""
        return {
            "pipeline": self.pipeline,
            "entry_id": self.entry_id,
            "task_name": self.task_name,
            "task_id": self.task_id,
            "error": self.error,
            "attempts": self.attempts,
        }


async def list_dead_letters(
    redis: aioredis.Redis, keyspace: Keyspace, pipeline: str, *, count: int = 100
) -> list[DeadLetter]:
    """The newest `count` dead letters of `pipeline`, newest first."""
    entries = await redis.xrevrange(keyspace.key("dead_letter", pipeline), count=count) or []
    return [DeadLetter.from_entry(pipeline, entry_id, fields) for entry_id, fields in entries]


async def get_dead_letter(
    redis: aioredis.Redis, keyspace: Keyspace, pipeline: str, entry_id: str
) -> DeadLetter | None:
    """Dead letter `entry_id` of `pipeline`, or None when there is no such entry."""
    entries = await redis.xrange(
        keyspace.key("dead_letter", pipeline), min=entry_id, max=entry_id, count=1
    )
    if not entries:
        return None
    found_id, fields = entries[0]
    return DeadLetter.from_entry(pipeline, found_id, fields)


def _fresh_message(message: str) -> bytes:
    """The message with its attempt label removed; text that is not a message is kept as is."""
    try:
        payload = json.loads(message)
    except ValueError:
        return message.encode()
    return with_attempt(payload, None) if isinstance(payload, dict) else message.encode()


async def replay_dead_letter(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    pipeline: str,
    entry_id: str,
    *,
    maxlen: int | None = None,
    actor: Actor | None = None,
) -> str | None:
    """Queue dead letter `entry_id` of `pipeline` again with a fresh attempt count.

    The new stream entry and the removal of the dead letter happen in one transaction.
    Returns the new entry's id, or None when no such dead letter exists. Raises
    :class:`ValueError` for an entry without a `message` field. With `actor`, the replay is
    audited as `dead_letter.replay`.
    """
    dead_letter = await get_dead_letter(redis, keyspace, pipeline, entry_id)
    if dead_letter is None:
        return None
    if dead_letter.message is None:
        raise ValueError(f"dead letter {entry_id} of {pipeline!r} has no message to replay")
    async with redis.pipeline(transaction=True) as tx:
        tx.xadd(
            keyspace.key("stream", pipeline),
            {b"data": _fresh_message(dead_letter.message)},
            maxlen=maxlen,
            approximate=True,
        )
        tx.xdel(keyspace.key("dead_letter", pipeline), entry_id)
        new_id, deleted = await tx.execute()
    new_id = new_id.decode() if isinstance(new_id, bytes) else str(new_id)
    if actor is not None:
        await record(
            "dead_letter.replay",
            actor,
            target=f"{pipeline} {entry_id}",
            before=dead_letter.summary(),
            after={"stream_id": new_id, "deleted": bool(deleted)},
        )
    return new_id


async def replay_all_dead_letters(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    pipeline: str,
    *,
    maxlen: int | None = None,
    actor: Actor | None = None,
) -> list[str]:
    """Replay every dead letter of `pipeline`, oldest first; returns the new stream ids.

    Entries without a message are left in place. Each replay is its own transaction (and,
    with `actor`, its own audit entry), so a failure part-way leaves the rest untouched.
    """
    replayed: list[str] = []
    start = "-"
    while True:
        entries = (
            await redis.xrange(
                keyspace.key("dead_letter", pipeline), min=start, count=_REPLAY_BATCH
            )
            or []
        )
        for entry_id, fields in entries:
            dead_letter = DeadLetter.from_entry(pipeline, entry_id, fields)
            if dead_letter.message is None:
                continue
            new_id = await replay_dead_letter(
                redis, keyspace, pipeline, dead_letter.entry_id, maxlen=maxlen, actor=actor
            )
            if new_id is not None:
                replayed.append(new_id)
        if len(entries) < _REPLAY_BATCH:
            return replayed
        start = "(" + _text(entries[-1][0] or "")


async def drop_dead_letter(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    pipeline: str,
    entry_id: str,
    *,
    actor: Actor | None = None,
) -> bool:
    """Delete dead letter `entry_id` of `pipeline` without running it; False if it was gone.

    With `actor`, the drop is audited as `dead_letter.drop`, keeping the task name, id and
    error (not the arguments, which can hold member data).
    """
    dead_letter = await get_dead_letter(redis, keyspace, pipeline, entry_id)
    if dead_letter is None:
        return False
    deleted = await redis.xdel(keyspace.key("dead_letter", pipeline), entry_id)
    if actor is not None and deleted:
        await record(
            "dead_letter.drop",
            actor,
            target=f"{pipeline} {entry_id}",
            before=dead_letter.summary(),
        )
    return bool(deleted)
