"""The assistant's work on the `ai` pipeline: task names, the shards' route, the `/ask` job.

Task names are part of the wire format (they travel in every queued message and in dead
letters): renaming one strands messages already queued under the old name.
"""

from __future__ import annotations

import typing
import uuid

from townsquare.core.events import encode_job
from townsquare.core.events.routes import Route
from townsquare.core.events.wire import DATA_FIELD
from townsquare.core.features import Schedule

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = [
    "AI_PIPELINE",
    "AI_ROUTE",
    "ANSWER_TASK",
    "EMBED_INTERVAL_SECONDS",
    "EMBED_TASK",
    "MESSAGES_TASK",
    "STREAM_MAXLEN",
    "SUMMARIZE_TASK",
    "SYNC_INTERVAL_SECONDS",
    "SYNC_TASK",
    "assistant_schedules",
    "queue_embedding",
    "queue_job",
]

AI_PIPELINE: typing.Final = "ai"
ANSWER_TASK: typing.Final = "assistant.answer_interaction"
"""An `/ask` the shard deferred: answer it into the interaction's response."""
SUMMARIZE_TASK: typing.Final = "assistant.summarize"
MESSAGES_TASK: typing.Final = "assistant.messages"
"""A batch of message records (with text): mentions, replies to answers, indexed channels."""
SYNC_TASK: typing.Final = "assistant.sync_channels"
"""Re-reads every indexed channel: backfills it, and catches edits and deletions."""
SYNC_INTERVAL_SECONDS: typing.Final = 300
EMBED_TASK: typing.Final = "assistant.embed_passages"
"""Embeds the passages that have no embedding yet (every guild's), in batches."""
EMBED_INTERVAL_SECONDS: typing.Final = 60
"""The embedding job also runs on this schedule: it catches what a queued run missed (a
worker killed mid-batch, a model that was down)."""
STREAM_MAXLEN: typing.Final = 100_000
"""Approximate cap on the `ai` stream when a shard queues a job (as `tasks.ai.maxlen`)."""

AI_ROUTE: typing.Final = Route(
    AI_PIPELINE,
    MESSAGES_TASK,
    frozenset({"message", "message_edit", "message_delete"}),
    with_content=True,
)
"""Every guild message with its text, and every edit and deletion: the worker keeps the
messages that mention the bot, reply to one of its answers, or belong to an indexed channel,
and follows the edits and deletions of indexed messages."""


async def queue_job(
    redis: aioredis.Redis, keyspace: Keyspace, task_name: str, task_id: str, **kwargs: typing.Any
) -> None:
    """XADD one job into the `ai` stream (what a shard does after deferring an interaction)."""
    job = encode_job(task_name, task_id=task_id, **kwargs)
    await redis.xadd(
        keyspace.key("stream", AI_PIPELINE),
        {DATA_FIELD: job},
        maxlen=STREAM_MAXLEN,
        approximate=True,
    )


async def queue_embedding(redis: aioredis.Redis, keyspace: Keyspace) -> None:
    """Ask a worker to embed the passages just written (any number of these may be queued:
    each run embeds what is pending, and two runs share the rows, never embed one twice)."""
    await queue_job(redis, keyspace, EMBED_TASK, uuid.uuid4().hex)


def assistant_schedules() -> tuple[Schedule, ...]:
    """The indexed channels' sync, every :data:`SYNC_INTERVAL_SECONDS`, and the embedding
    job's catch-up, every :data:`EMBED_INTERVAL_SECONDS`."""
    return (
        Schedule("assistant-sync-channels", SYNC_TASK, interval_seconds=SYNC_INTERVAL_SECONDS),
        Schedule("assistant-embed-passages", EMBED_TASK, interval_seconds=EMBED_INTERVAL_SECONDS),
    )
