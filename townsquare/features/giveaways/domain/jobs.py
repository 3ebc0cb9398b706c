"""The giveaways' work on the `jobs` pipeline: task names, the tick's schedule, queueing.

Task names travel in every queued message and dead letter: renaming one strands queued work.
The HTTP service and the shards queue jobs with :func:`enqueue` (the taskiq wire format,
`townsquare.core.events.encode_job`), since they may not import the task runtime.
"""

from __future__ import annotations

import typing

from townsquare.core.events import encode_job
from townsquare.core.events.wire import DATA_FIELD
from townsquare.core.features import Schedule

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = [
    "ANNOUNCE_TASK",
    "CLAIMED_TASK",
    "END_TASK",
    "EXPIRE_TASK",
    "MEMBER_LEFT_TASK",
    "MESSAGE_DELETED_TASK",
    "PIPELINE",
    "PUBLISH_TASK",
    "REFRESH_TASK",
    "REROLL_TASK",
    "TICK_INTERVAL_SECONDS",
    "TICK_TASK",
    "enqueue",
    "giveaway_schedules",
]

PIPELINE: typing.Final = "jobs"
PUBLISH_TASK: typing.Final = "giveaways.publish"
"""Post the giveaway message and open the entries (scheduled -> running)."""
END_TASK: typing.Final = "giveaways.end"
"""End one giveaway: close, flush, draw, then announce (idempotent)."""
EXPIRE_TASK: typing.Final = "giveaways.expire"
"""Reroll a giveaway's winners whose claim window ran out."""
REROLL_TASK: typing.Final = "giveaways.reroll"
"""A host's `/giveaway reroll`."""
ANNOUNCE_TASK: typing.Final = "giveaways.announce"
"""Announce a giveaway's unannounced winners (one message, never twice) and DM them."""
CLAIMED_TASK: typing.Final = "giveaways.claimed"
"""Tell the host about a claim and update the embed."""
REFRESH_TASK: typing.Final = "giveaways.refresh"
"""Edit the giveaway message to its current state."""
MEMBER_LEFT_TASK: typing.Final = "giveaways.member_left"
"""A claiming giveaway's pending winners checked against the server: those who left are
rerolled at once (queued by the tick every 10 s per giveaway; the shards do not receive member
leaves, since GUILD_MEMBERS is privileged and not requested)."""
MESSAGE_DELETED_TASK: typing.Final = "giveaways.message_deleted"
"""A giveaway's message was deleted: the giveaway is cancelled and the host told."""
TICK_TASK: typing.Final = "giveaways.tick"
TICK_INTERVAL_SECONDS: typing.Final = 5
"""The sweep: due starts, ends, claim windows, the entry flush and the entry-count edits.
Also the longest an entry count waits for its edit."""


def giveaway_schedules() -> tuple[Schedule, ...]:
    return (Schedule("giveaways-tick", TICK_TASK, interval_seconds=TICK_INTERVAL_SECONDS),)


async def enqueue(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    maxlen: int,
    task: str,
    *args: typing.Any,
    **kwargs: typing.Any,
) -> None:
    """Queue `task(*args, **kwargs)` on the `jobs` stream, as a producer process would."""
    await redis.xadd(
        keyspace.key("stream", PIPELINE),
        {DATA_FIELD: encode_job(task, *args, **kwargs)},
        maxlen=maxlen,
        approximate=True,
    )
