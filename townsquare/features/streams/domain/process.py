"""A stream event applied to the durable state: the stream row, then the cards to post or edit.

`online` creates the stream (unique per creator and platform id, so a second delivery, or a
poll after the webhook, finds the row instead) and keeps the highest viewer count seen;
`offline` ends it (Twitch's names no stream: every open stream of the creator ends). Each
feed of the creator then gets a card job: post for a new stream, edit for an ended one.
"""

from __future__ import annotations

import dataclasses
import typing

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from townsquare.features.streams.domain.models import Card, Creator, Feed, Stream

if typing.TYPE_CHECKING:
    from townsquare.features.streams.domain.events import StreamEvent

__all__ = ["Applied", "apply_event"]


@dataclasses.dataclass(frozen=True, slots=True)
class Applied:
    """What an event changed: the (feed id, stream id) pairs whose card needs work."""

    cards: list[tuple[int, int]]
    creator: Creator | None


async def apply_event(event: StreamEvent) -> Applied:
    """Apply `event`; an event about a creator nobody follows changes nothing."""
    creator = await Creator.get_or_none(platform=event.platform, platform_id=event.creator)
    if creator is None:
        return Applied([], None)
    await Creator.filter(id=creator.id).update(last_event_at=event.at)
    if event.kind == "online":
        stream = await _started(creator, event)
        if stream is None:
            return Applied([], creator)
        feeds = await Feed.filter(creator_id=creator.id).only("id")
        return Applied([(feed.id, stream.id) for feed in feeds], creator)
    ended = await _ended(creator, event)
    cards = await Card.filter(stream_id__in=ended).values_list("feed_id", "stream_id")
    return Applied([(int(feed), int(stream)) for feed, stream in cards], creator)


async def _started(creator: Creator, event: StreamEvent) -> Stream | None:
    """The stream row, created or brought up to date; None when it has ended already."""
    assert event.stream_id is not None
    fields = {
        "title": (event.title or "")[:300],
        "category": (event.category or "")[:200],
        "thumbnail_url": (event.thumbnail_url or "")[:500],
        "url": (event.url or creator.url)[:300],
        "started_at": event.at,
        "viewers": event.viewers,
        "peak_viewers": event.viewers,
        "upload": event.upload,
    }
    try:
        stream, created = await Stream.get_or_create(
            creator=creator, external_id=event.stream_id, defaults=fields
        )
    except IntegrityError:  # created by a concurrent delivery between the get and the create
        stream, created = await Stream.get(creator=creator, external_id=event.stream_id), False
    if created:
        return stream
    if stream.ended_at is not None:
        return None
    changes: dict[str, typing.Any] = {}
    if event.title and event.title != stream.title:
        changes["title"] = event.title[:300]
    if event.viewers is not None:
        changes["viewers"] = event.viewers
        changes["peak_viewers"] = max(stream.peak_viewers or 0, event.viewers)
    if changes:
        await Stream.filter(id=stream.id).update(**changes)
    return stream


async def _ended(creator: Creator, event: StreamEvent) -> list[int]:
    """End the stream the event names (or every open stream of the creator); their ids."""
    async with in_transaction() as connection:
        open_streams = Stream.filter(
            creator_id=creator.id, ended_at__isnull=True, upload=False
        ).using_db(connection)
        if event.stream_id is not None:
            open_streams = open_streams.filter(external_id=event.stream_id)
        rows = await open_streams.select_for_update()
        for stream in rows:
            peak = stream.peak_viewers
            if event.viewers is not None:
                peak = max(peak or 0, event.viewers)
            await (
                Stream.filter(id=stream.id)
                .using_db(connection)
                .update(ended_at=max(event.at, stream.started_at or event.at), peak_viewers=peak)
            )
    return [stream.id for stream in rows]
