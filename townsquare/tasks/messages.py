"""The queued message format and the attempt counter it carries.

A queued job is one stream entry with a single field `data`: taskiq's message as JSON,
`{"task_id", "task_name", "labels", "labels_types", "args", "kwargs"}`. Labels travel as
strings with a type code (taskiq's `labels_types`). The attempt number travels in the
`attempt` label: absent on the first attempt, set by the retry middleware on every retry, so
any worker that picks the message up knows how many attempts came before.
"""

from __future__ import annotations

import json
import typing

from taskiq.labels import prepare_label

from townsquare.core.dead_letters import ATTEMPT_LABEL, with_attempt

if typing.TYPE_CHECKING:
    from taskiq.message import TaskiqMessage

    from townsquare.tasks.delivery import Delivery

__all__ = ["ATTEMPT_LABEL", "attempt_of", "original_payload", "with_attempt"]


def attempt_of(message: TaskiqMessage) -> int:
    """The 1-based number of the attempt that is running `message`."""
    value = message.labels.get(ATTEMPT_LABEL)
    try:
        attempt = int(str(value)) if value is not None else 1
    except ValueError:
        return 1
    return max(1, attempt)


def original_payload(message: TaskiqMessage, delivery: Delivery | None) -> dict[str, typing.Any]:
    """The message as it was queued.

    Prefer the raw bytes: by the time a task has failed, taskiq has parsed its arguments in
    place (a dict may have become a model). Without a delivery, rebuild the wire form.
    """
    if delivery is not None:
        try:
            payload = json.loads(delivery.raw)
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            return payload
    labels: dict[str, str] = {}
    labels_types: dict[str, int] = {}
    for name, value in message.labels.items():
        labels[name], labels_types[name] = prepare_label(value)
    dumped = message.model_dump(mode="json", include={"args", "kwargs"})
    return {
        "task_id": message.task_id,
        "task_name": message.task_name,
        "labels": labels,
        "labels_types": labels_types,
        "args": dumped["args"],
        "kwargs": dumped["kwargs"],
    }
