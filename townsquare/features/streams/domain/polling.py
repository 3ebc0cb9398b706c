"""What polls and the Data API observe, turned into stream events.

- Kick: the creators whose webhook subscription is not confirmed are polled (their channels,
  50 per call); a live channel is an `online` event with the same stream id a webhook would
  give (:func:`~.webhooks.kick_stream_id`), an offline one ends whatever was open.
- YouTube: a pushed video is live (`online`), ended (`offline`), upcoming (kept, and asked
  again by the poll until it starts), or an upload (`online` with `upload`, announced only
  by feeds that want uploads, and only when it was published recently, since the hub also
  pushes edits of old videos).
- When a platform's poll fails, the next one waits longer (doubling, at most an hour).
"""

from __future__ import annotations

import datetime
import typing

from townsquare.features.streams.domain.events import StreamEvent
from townsquare.features.streams.domain.models import Creator, Platform, Stream, SubscriptionState
from townsquare.features.streams.domain.webhooks import kick_stream_id

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.features.streams.domain.platforms.kick import KickClient
    from townsquare.features.streams.domain.platforms.youtube import Video

__all__ = [
    "MAX_BACKOFF_SECONDS",
    "UPCOMING_FOR",
    "UPLOAD_FRESH",
    "claim_poll",
    "kick_events",
    "poll_done",
    "youtube_events",
]

UPLOAD_FRESH: typing.Final = datetime.timedelta(hours=6)
"""An upload published longer ago than this is an edit of an old video: not announced."""
UPCOMING_FOR: typing.Final = datetime.timedelta(days=7)
"""An upcoming stream not started within this is forgotten."""
MAX_BACKOFF_SECONDS: typing.Final = 3600.0


async def claim_poll(
    redis: aioredis.Redis, keyspace: Keyspace, platform: Platform, now: float
) -> int | None:
    """The errors in a row so far if `platform`'s poll is due (and claimed), else None."""
    key = keyspace.key("streams_poll", platform.value)
    raw = await redis.get(key)
    due, failures = 0.0, 0
    if raw is not None:
        due_text, _, failures_text = (raw.decode() if isinstance(raw, bytes) else raw).partition(
            " "
        )
        due, failures = float(due_text), int(failures_text or 0)
    if now < due:
        return None
    # Claim it for a minute so a second worker's tick does not poll too.
    claimed = await redis.set(
        key, f"{now + 60} {failures}", ex=86_400, xx=raw is not None, nx=raw is None
    )
    return failures if claimed else None


async def poll_done(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    platform: Platform,
    now: float,
    *,
    interval: float,
    failures: int,
) -> None:
    """Schedule the next poll: after `interval`, or later after `failures` errors in a row."""
    wait = min(MAX_BACKOFF_SECONDS, interval * 2**failures) if failures else interval
    await redis.set(
        keyspace.key("streams_poll", platform.value), f"{now + wait} {failures}", ex=86_400
    )


async def kick_events(kick: KickClient, now: datetime.datetime) -> list[StreamEvent]:
    """Events for the Kick creators that webhooks do not cover (yet)."""
    creators = await Creator.filter(platform=Platform.KICK).exclude(state=SubscriptionState.ENABLED)
    events = []
    for start in range(0, len(creators), 50):
        chunk = creators[start : start + 50]
        channels = await kick.channels([creator.platform_id for creator in chunk])
        for channel in channels:
            if channel.live and channel.started_at is not None:
                events.append(
                    StreamEvent(
                        platform=Platform.KICK,
                        creator=channel.user_id,
                        kind="online",
                        stream_id=kick_stream_id(channel.user_id, channel.started_at),
                        at=channel.started_at,
                        title=channel.title[:300],
                        category=channel.category[:200],
                        viewers=channel.viewers,
                        thumbnail_url=channel.thumbnail_url[:500],
                        source="poll",
                    )
                )
            elif await Stream.filter(
                creator__platform=Platform.KICK,
                creator__platform_id=channel.user_id,
                ended_at__isnull=True,
            ).exists():
                events.append(
                    StreamEvent(
                        platform=Platform.KICK,
                        creator=channel.user_id,
                        kind="offline",
                        at=now,
                        viewers=channel.viewers,
                        source="poll",
                    )
                )
    return events


def youtube_events(
    videos: typing.Iterable[Video], now: datetime.datetime
) -> tuple[list[StreamEvent], list[str], list[str]]:
    """The events these videos mean, the ids still upcoming, and the ids done with."""
    events, upcoming, done = [], [], []
    for video in videos:
        common = {
            "platform": Platform.YOUTUBE,
            "creator": video.channel_id,
            "stream_id": video.video_id,
            "title": video.title[:300],
            "viewers": video.viewers,
            "thumbnail_url": video.thumbnail_url[:500],
            "url": f"https://www.youtube.com/watch?v={video.video_id}",
        }
        if video.state == "upcoming":
            upcoming.append(video.video_id)
            continue
        done.append(video.video_id)
        if video.state == "live":
            events.append(StreamEvent(kind="online", at=video.started_at or now, **common))
        elif video.was_live and video.ended_at is not None:
            events.append(StreamEvent(kind="offline", at=video.ended_at, **common))
        elif not video.was_live and video.published_at and now - video.published_at < UPLOAD_FRESH:
            events.append(StreamEvent(kind="online", at=video.published_at, upload=True, **common))
    return events, upcoming, done
