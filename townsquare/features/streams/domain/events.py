"""Stream events as the pipeline carries them, and how a delivery becomes a job exactly once.

Every source (a Twitch, Kick or YouTube webhook, a poll) turns what it saw into a
:class:`StreamEvent` and hands it to :func:`queue_once` with an id for the delivery (the
platform's message id, or what the poll observed). One Lua call remembers the id and queues
the job, so a redelivered webhook is acknowledged and queues nothing, and a crash between the
two cannot lose the event or queue it twice. The cards themselves are unique per (feed,
stream), so a webhook and a poll seeing the same stream still end in one card.
"""

from __future__ import annotations

import datetime
import hashlib
import typing

from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import NoScriptError

from townsquare.core.events import encode_job
from townsquare.features.streams.domain.jobs import EVENT_TASK
from townsquare.features.streams.domain.keys import DELIVERY_TTL_SECONDS
from townsquare.features.streams.domain.models import Platform

if typing.TYPE_CHECKING:
    from townsquare.core.keyspace import Keyspace

__all__ = ["Commands", "StreamEvent", "queue_job", "queue_once"]

_QUEUE_ONCE = """
-- KEYS[1]: the delivery's marker; KEYS[2]: the jobs stream
-- ARGV[1]: marker TTL (s); ARGV[2]: the stream's approximate maxlen; ARGV[3]: the job
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'data', ARGV[3])
  return 1
end
return 0
"""


_QUEUE_ONCE_SHA: typing.Final = hashlib.sha1(
    _QUEUE_ONCE.encode(), usedforsecurity=False
).hexdigest()


class StreamEvent(BaseModel):
    """A creator went live, ended, or (YouTube) published a video."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: Platform
    creator: str = Field(min_length=1, max_length=64)
    """The creator's platform id (Twitch user id, Kick user id, YouTube channel id)."""
    kind: typing.Literal["online", "offline"]
    stream_id: str | None = Field(default=None, max_length=100)
    """The stream's platform id; None for an end that names no stream (Twitch's offline)."""
    at: datetime.datetime
    title: str | None = Field(default=None, max_length=300)
    category: str | None = Field(default=None, max_length=200)
    viewers: int | None = None
    thumbnail_url: str | None = Field(default=None, max_length=500)
    url: str | None = Field(default=None, max_length=300)
    upload: bool = False
    """A YouTube upload (not a live stream)."""
    source: typing.Literal["webhook", "poll"] = "webhook"


async def queue_once(
    redis: Commands,
    keyspace: Keyspace,
    delivery: str,
    event: StreamEvent,
    *,
    maxlen: int,
) -> bool:
    """Queue `event` unless `delivery` (an id unique to what was seen) was queued before;
    whether it was queued now."""
    job = encode_job(EVENT_TASK, event.model_dump(mode="json"))
    return await queue_job(redis, keyspace, event.platform, delivery, job, maxlen=maxlen)


class Commands(typing.Protocol):
    """What :func:`queue_job` sends its script through: a redis-py client, or the HTTP
    service's batcher (requests arriving together share one round trip)."""

    async def execute_command(self, *args: typing.Any) -> typing.Any: ...


async def queue_job(
    redis: Commands,
    keyspace: Keyspace,
    platform: Platform,
    delivery: str,
    job: bytes,
    *,
    maxlen: int,
) -> bool:
    """XADD `job` to the jobs stream unless `platform`'s `delivery` was seen."""
    keys = (
        keyspace.key("streams_delivery", platform.value, delivery),
        keyspace.key("stream", "jobs"),
    )
    args = (DELIVERY_TTL_SECONDS, maxlen, job)
    try:
        queued = await redis.execute_command("EVALSHA", _QUEUE_ONCE_SHA, 2, *keys, *args)
    except NoScriptError:
        queued = await redis.execute_command("EVAL", _QUEUE_ONCE, 2, *keys, *args)
    return bool(queued)
