"""Stream events and cards: `streams.event`, `streams.youtube_videos`, `streams.card`."""

from __future__ import annotations

import datetime
import typing

import hikari
import structlog
from pydantic import ValidationError

from townsquare.core.alerts import raise_alert
from townsquare.core.nonces import message_nonce
from townsquare.features.streams.domain.cards import CardView, card_text, card_view, shared_view
from townsquare.features.streams.domain.config import AlertsSection
from townsquare.features.streams.domain.events import StreamEvent
from townsquare.features.streams.domain.feeds import FEEDS_LIMIT
from townsquare.features.streams.domain.jobs import (
    CARD_TASK,
    EVENT_TASK,
    YOUTUBE_TASK,
)
from townsquare.features.streams.domain.models import (
    Card,
    Feed,
    Platform,
    Stream,
)
from townsquare.features.streams.domain.polling import (
    youtube_events,
)
from townsquare.features.streams.tasks._shared import (
    Resources,
    apply_events,
    platforms_of,
)
from townsquare.tasks.errors import PermanentJobError
from townsquare.tasks.locks import RedisLease
from townsquare.tasks.registry import REGISTRY

if typing.TYPE_CHECKING:
    from townsquare.features.streams.domain.subscriptions import (
        Platforms,
    )
    from townsquare.tasks.resources import TaskResources

logger = structlog.get_logger(__name__)

__all__ = ["CardBusyError", "card", "event", "youtube_videos"]

_CARD_LEASE_SECONDS: typing.Final = 30.0
"""The `streams_card_lock` lease: longer than a card's post (Discord answers in seconds)."""


class CardBusyError(Exception):
    """Another worker is posting or editing this card right now; retried shortly."""


async def _enrich(platforms: Platforms, event: StreamEvent) -> StreamEvent:
    """A Twitch `stream.online` names the stream only: Helix adds title, game, viewers."""
    if event.platform is not Platform.TWITCH or event.kind != "online":
        return event
    live = (await platforms.twitch().live_streams([event.creator])).get(event.creator)
    if live is None or live.stream_id != event.stream_id:
        return event  # Helix has not caught up yet: the card shows what we know
    return event.model_copy(
        update={
            "title": live.title[:300],
            "category": live.category[:200],
            "viewers": live.viewers,
            "thumbnail_url": live.thumbnail_url[:500],
        }
    )


def _embed(view: CardView) -> hikari.Embed:
    embed = hikari.Embed(
        title=view.title,
        url=view.url,
        colour=hikari.Color(view.colour),
        timestamp=view.timestamp,
    )
    embed.set_author(name=view.author, url=view.author_url)
    for name, value in view.fields:
        embed.add_field(name, value, inline=True)
    if view.image_url:
        embed.set_image(view.image_url)
    return embed.set_footer(view.footer)


@REGISTRY.task("jobs", EVENT_TASK)
async def event(payload: dict[str, typing.Any], resources: Resources) -> int:
    """A stream went live or ended; returns the card jobs queued."""
    try:
        stream_event = StreamEvent.model_validate(payload)
    except ValidationError as error:
        raise PermanentJobError(f"unreadable stream event: {error}") from error
    async with platforms_of(resources) as platforms:
        stream_event = await _enrich(platforms, stream_event)
    return await apply_events(resources, [stream_event])


@REGISTRY.task("jobs", YOUTUBE_TASK)
async def youtube_videos(videos: list[list[str]], resources: Resources) -> int:
    """Videos the hub pushed: the Data API says live, ended, upcoming or upload."""
    ids = sorted({video_id for video_id, _ in videos})
    async with platforms_of(resources) as platforms:
        found = await platforms.youtube().videos(ids)
    now = datetime.datetime.now(datetime.UTC)
    events, upcoming, _ = youtube_events(found.values(), now)
    if upcoming:
        key = resources.keyspace.key("streams_upcoming")
        await resources.redis.zadd(key, dict.fromkeys(upcoming, now.timestamp()), nx=True)
    return await apply_events(resources, events)


@REGISTRY.task("jobs", CARD_TASK)
async def card(feed_id: int, stream_id: int, resources: Resources) -> str:
    """Post the feed's card about the stream, or edit it once the stream has ended."""
    key = resources.keyspace.key("streams_card_lock", feed_id, stream_id)
    async with RedisLease(resources.redis, key, _CARD_LEASE_SECONDS).held() as acquired:
        if not acquired:
            raise CardBusyError(f"card {feed_id}/{stream_id} is being written by another worker")
        return await _write_card(resources, feed_id, stream_id)


async def _write_card(resources: TaskResources, feed_id: int, stream_id: int) -> str:
    feed = await Feed.get_or_none(id=feed_id).select_related("creator")
    stream = await Stream.get_or_none(id=stream_id)
    if feed is None or stream is None:
        return "gone"
    existing = await Card.get_or_none(feed_id=feed_id, stream_id=stream_id)
    outcome = "up to date"
    if existing is None:
        outcome = await _post(resources, feed, stream)
        if outcome not in {"posted", "joined"}:
            return outcome
        # It may have ended while we posted: its end event found no card to edit then.
        await stream.refresh_from_db(fields=["ended_at", "peak_viewers"])
        existing = await Card.get(feed_id=feed_id, stream_id=stream_id)
    if stream.ended_at is None or existing.ended_shown:
        return outcome
    return await _render(resources, feed, existing.channel_id, existing.message_id)


async def _post(resources: TaskResources, feed: Feed, stream: Stream) -> str:
    """Post the card, pinging the feed's role only (or join the person's card); "posted",
    "joined", or why not."""
    if stream.ended_at is not None:
        return "ended before it was announced"
    if stream.upload and not feed.announce_uploads:
        return "uploads are not announced by this feed"
    config = await resources.guild_config(feed.guild_id)  # type: ignore[attr-defined]
    if not config.section(AlertsSection).enabled:
        return "live alerts are off in this server"
    if not await _within_limit(resources, feed):
        return "paused: beyond the server's premium limit of feeds"
    if feed.person and not stream.upload:
        key = resources.keyspace.key("streams_person_lock", feed.channel_id, feed.person)
        async with RedisLease(resources.redis, key, _CARD_LEASE_SECONDS).held() as acquired:
            if not acquired:
                raise CardBusyError(f"a card for {feed.person!r} is being written")
            return await _join_or_post(resources, feed, stream)
    return await _post_new(resources, feed, stream)


async def _join_or_post(resources: TaskResources, feed: Feed, stream: Stream) -> str:
    """The person's card in this channel while another of their streams is live: this stream
    joins it (one more line, no second ping); otherwise a new card."""
    sibling = (
        await Card.filter(
            channel_id=feed.channel_id,
            feed__guild_id=feed.guild_id,  # type: ignore[attr-defined]
            feed__person=feed.person,
            stream__ended_at__isnull=True,
            stream__upload=False,
        )
        .exclude(feed_id=feed.id)
        .order_by("id")
        .first()
    )
    if sibling is None:
        return await _post_new(resources, feed, stream)
    await Card.create(
        feed_id=feed.id,
        stream_id=stream.id,
        channel_id=sibling.channel_id,
        message_id=sibling.message_id,
    )
    await _render(resources, feed, sibling.channel_id, sibling.message_id)
    logger.info("streams.card_joined", feed_id=feed.id, stream=stream.external_id)
    return "joined"


async def _post_new(resources: TaskResources, feed: Feed, stream: Stream) -> str:
    rest = await resources.discord_rest()
    try:
        message = await rest.create_message(
            feed.channel_id,
            card_text(feed, feed.creator, stream),
            embed=_embed(card_view(feed.creator, stream)),
            role_mentions=[feed.role_id] if feed.role_id else False,
            user_mentions=False,
            mentions_everyone=False,
            nonce=card_nonce(feed.id, stream.id),
        )
    except (hikari.ForbiddenError, hikari.NotFoundError) as error:
        await _unpostable(resources, feed, error)
        return "channel unavailable"
    await Card.create(
        feed_id=feed.id, stream_id=stream.id, channel_id=feed.channel_id, message_id=message.id
    )
    await Feed.filter(id=feed.id).update(
        last_posted_at=datetime.datetime.now(datetime.UTC), last_error=None
    )
    logger.info("streams.card_posted", feed_id=feed.id, stream=stream.external_id)
    return "posted"


def card_nonce(feed_id: int, stream_id: int) -> str:
    """Discord's `nonce` for the card of (feed, stream): a worker killed after Discord took the
    card but before the card row was written posts it once on the retry (`core.nonces`)."""
    return message_nonce("card", feed_id, stream_id)


async def _within_limit(resources: TaskResources, feed: Feed) -> bool:
    """Whether the feed is among the first the guild's tier allows (the ones added last are
    paused after a downgrade, as `streams.feeds` says)."""
    guild_id: int = feed.guild_id  # type: ignore[attr-defined]
    allowed = await resources.gate.value(guild_id, FEEDS_LIMIT)
    if not isinstance(allowed, int) or isinstance(allowed, bool):
        return True
    kept = await Feed.filter(guild_id=guild_id).order_by("id").limit(allowed).only("id")
    return feed.id in {row.id for row in kept}


async def _render(resources: TaskResources, feed: Feed, channel_id: int, message_id: int) -> str:
    """Edit the message to what its cards say now (no ping): one stream's card, or a person's
    card listing each platform; a deleted message is left alone."""
    cards = (
        await Card.filter(message_id=message_id)
        .select_related("feed__creator", "stream")
        .order_by("id")
    )
    first = cards[0]
    if len(cards) > 1:
        pairs = [(card.feed.creator, card.stream) for card in cards]
        view = shared_view(first.feed.person or first.feed.creator.display_name, pairs)
    else:
        view = card_view(first.feed.creator, first.stream)
    rest = await resources.discord_rest()
    try:
        await rest.edit_message(
            channel_id,
            message_id,
            card_text(first.feed, first.feed.creator, first.stream),
            embed=_embed(view),
            role_mentions=False,
            user_mentions=False,
            mentions_everyone=False,
        )
    except hikari.NotFoundError:
        logger.info("streams.card_deleted", feed_id=feed.id, message_id=message_id)
    except hikari.ForbiddenError as error:
        await _unpostable(resources, feed, error)
        return "channel unavailable"
    ended = [card.id for card in cards if card.stream.ended_at is not None]
    await Card.filter(id__in=ended).update(ended_shown=True)
    return "edited"


async def _unpostable(
    resources: TaskResources, feed: Feed, error: hikari.ForbiddenError | hikari.NotFoundError
) -> None:
    """The channel is gone or the bot may not post there: the feed is marked unhealthy and the
    guild's admins are told once (a guild alert: the kernel delivers it to the guild's log
    channel, or the owner by DM), and the job is not retried."""
    problem = (
        f"cannot post in channel {feed.channel_id}: "
        f"{'missing permission' if isinstance(error, hikari.ForbiddenError) else 'no such channel'}"
        f" ({error.message or error.status})"
    )
    changed = await Feed.filter(id=feed.id, last_error__isnull=True).update(last_error=problem)
    logger.warning("streams.card_unpostable", feed_id=feed.id, problem=problem)
    if changed:
        await raise_alert(
            resources.redis,
            resources.keyspace,
            source="streams.card",
            level="warning",
            guild_id=feed.guild_id,  # type: ignore[attr-defined]
            key=f"streams.card_unpostable/{feed.id}",
            message=(
                f"live alert for {feed.creator.login}: {problem}; fix the channel's "
                "permissions, then remove and add the feed again"
            ),
        )
