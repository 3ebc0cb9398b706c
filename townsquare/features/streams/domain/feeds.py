"""Feeds: a guild's alerts for creators, added after the platform confirms the creator.

Adding a feed commits the creator (shared by every feed that follows them), the feed and its
audit entry together; a creator new to this deployment (or whose subscription was lost) then
needs a platform subscription, which the caller queues (:data:`~.jobs.SUBSCRIBE_TASK`). The
schedule subscribes any creator left pending, so a crash between the commit and the queueing
only delays it. Removing the last feed of a creator ends the subscription the same way.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import typing

from pydantic import BaseModel, ConfigDict, Field
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from townsquare.core.audit.service import record
from townsquare.core.guilds.models import Guild
from townsquare.core.guilds.service import ensure_guild
from townsquare.core.validation import Snowflake, Text
from townsquare.features.streams.domain.models import (
    Creator,
    Feed,
    Platform,
    SubscriptionState,
)

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from townsquare.core.audit.service import Actor
    from townsquare.features.streams.domain.platforms.base import CreatorInfo

__all__ = [
    "FEEDS_LIMIT",
    "FeedError",
    "FeedOut",
    "NewFeed",
    "add_feed",
    "count_feeds",
    "creator_query",
    "every_feed",
    "feed_out",
    "list_feeds",
    "remove_feed",
]

FEEDS_LIMIT: typing.Final = "streams.feeds"
"""The premium limit on a guild's feeds (`townsquare.core.premium.LIMITS`)."""
SILENT_AFTER: typing.Final = datetime.timedelta(days=30)
"""A creator with a confirmed subscription and no event for this long is reported silent."""

_QUERIES: typing.Final = {
    Platform.TWITCH: re.compile(r"^(?:https?://(?:www\.)?twitch\.tv/)?([A-Za-z0-9_]{1,25})/?$"),
    Platform.KICK: re.compile(r"^(?:https?://(?:www\.)?kick\.com/)?([A-Za-z0-9_-]{1,25})/?$"),
    Platform.YOUTUBE: re.compile(
        r"^(?:https?://(?:www\.)?youtube\.com/(?:channel/)?)?(UC[A-Za-z0-9_-]{22}|@[A-Za-z0-9._-]{3,30})/?$"
    ),
}
_QUERY_HELP: typing.Final = {
    Platform.TWITCH: "a Twitch login (letters, digits, underscores; at most 25)",
    Platform.KICK: "a Kick channel slug (letters, digits, - and _; at most 25)",
    Platform.YOUTUBE: "a YouTube channel id (UC + 22 characters) or handle (@name)",
}


@dataclasses.dataclass(eq=False)
class FeedError(Exception):
    """A feed change refused: `status` and `code` in HTTP's words, which adapters reuse, and
    per field what is wrong."""

    status: int
    code: str
    message: str
    fields: dict[str, list[str]] | None = None

    def __str__(self) -> str:
        return self.message


class NewFeed(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    platform: Platform
    """`twitch`, `kick` or `youtube`."""
    creator: typing.Annotated[str, Field(min_length=1, max_length=100)]
    """Twitch login, Kick channel slug, YouTube channel id (`UC...`) or handle (`@name`); a
    link to the channel works too. Looked up on the platform (unknown: 404)."""
    channel_id: Snowflake
    """The channel the cards are posted in."""
    role_id: Snowflake | None = None
    """The role pinged by each card (only this role is ever mentioned)."""
    template: typing.Annotated[Text, Field(min_length=1, max_length=500)] | None = None
    """The card's text: `{role}`, `{creator}`, `{platform}`, `{title}`, `{category}` and
    `{url}` are replaced. The server's default (`alerts.template`) when absent."""
    announce_uploads: bool | None = None
    """Also announce YouTube uploads (not only live streams); the server's default when absent."""
    person: typing.Annotated[Text, Field(min_length=1, max_length=100)] | None = None
    """Who the creator is, when one person streams on several platforms: feeds with the same
    person in the same channel share one card listing every platform they are live on."""


class FeedOut(BaseModel):
    id: int
    platform: Platform
    creator: str
    """The platform's name for the creator (login, slug or handle)."""
    creator_name: str
    creator_url: str
    channel_id: str
    role_id: str | None
    template: str
    announce_uploads: bool
    person: str | None
    subscription: SubscriptionState
    last_event_at: datetime.datetime | None
    expires_at: datetime.datetime | None
    """When the subscription's lease ends (YouTube), if it has one."""
    last_error: str | None
    """The feed's last posting error, or the subscription's."""
    healthy: bool


def creator_query(platform: Platform, text: str) -> str:
    """The creator named by `text` (a name or a link), in the platform's form; 400 otherwise."""
    match = _QUERIES[platform].match(text.strip())
    if match is None:
        raise FeedError(
            400,
            "invalid_creator",
            f"{text.strip()[:100]!r} is not {_QUERY_HELP[platform]}",
            {"creator": [f"must be {_QUERY_HELP[platform]}"]},
        )
    return match.group(1)


def _health(feed: Feed, creator: Creator, now: datetime.datetime) -> tuple[bool, str | None]:
    if feed.last_error:
        return False, feed.last_error
    if creator.state in {SubscriptionState.REVOKED, SubscriptionState.FAILED}:
        return False, creator.last_error or f"subscription {creator.state.value}"
    if creator.expires_at is not None and creator.expires_at < now:
        return False, "the subscription's lease has expired"
    seen = creator.last_event_at or creator.verified_at
    if creator.state is SubscriptionState.ENABLED and seen and now - seen > SILENT_AFTER:
        return False, f"no event for {(now - seen).days} days"
    return True, creator.last_error if creator.state is SubscriptionState.PENDING else None


def feed_out(feed: Feed, creator: Creator, now: datetime.datetime | None = None) -> FeedOut:
    healthy, problem = _health(feed, creator, now or datetime.datetime.now(datetime.UTC))
    return FeedOut(
        id=feed.id,
        platform=creator.platform,
        creator=creator.login,
        creator_name=creator.display_name,
        creator_url=creator.url,
        channel_id=str(feed.channel_id),
        role_id=None if feed.role_id is None else str(feed.role_id),
        template=feed.template,
        announce_uploads=feed.announce_uploads,
        person=feed.person,
        subscription=creator.state,
        last_event_at=creator.last_event_at,
        expires_at=creator.expires_at,
        last_error=problem,
        healthy=healthy,
    )


async def list_feeds(guild_id: int) -> list[FeedOut]:
    feeds = await Feed.filter(guild_id=guild_id).select_related("creator").order_by("id")
    return [feed_out(feed, feed.creator) for feed in feeds]


async def every_feed(limit: int = 1000) -> list[tuple[int, FeedOut]]:
    """Every guild's feeds (unhealthy ones first), for the operator console."""
    rows = await Feed.all().select_related("creator").order_by("guild_id", "id").limit(limit)
    now = datetime.datetime.now(datetime.UTC)
    found = [(int(row.guild_id), feed_out(row, row.creator, now)) for row in rows]  # type: ignore[attr-defined]
    return sorted(found, key=lambda pair: pair[1].healthy)


async def count_feeds(guild_id: int) -> int:
    return await Feed.filter(guild_id=guild_id).count()


async def add_feed(
    guild_id: int,
    new: NewFeed,
    actor: Actor,
    *,
    lookup: Callable[[Platform, str], Awaitable[CreatorInfo | None]],
    template: str,
    announce_uploads: bool,
    max_feeds: int | None,
) -> tuple[FeedOut, Creator | None]:
    """Add a feed; the creator is looked up first (404 when the platform has none).

    Returns the feed and, when the creator needs a platform subscription, the creator (the
    caller queues it). `max_feeds` (the guild's premium limit; None: unlimited) is checked
    again inside the transaction, with the guild's row locked, so two adds at once cannot
    both take the last place. 409 for a feed of the same creator in the same channel.
    """
    query = creator_query(new.platform, new.creator)
    found = await lookup(new.platform, query)
    if found is None:
        raise FeedError(
            404,
            "unknown_creator",
            f"{new.platform.value} has no creator {query!r}",
            {"creator": [f"{new.platform.value} has no such creator"]},
        )
    try:
        async with in_transaction() as connection:
            await ensure_guild(guild_id, using_db=connection)
            await Guild.filter(id=guild_id).using_db(connection).select_for_update().first()
            count = await Feed.filter(guild_id=guild_id).using_db(connection).count()
            if max_feeds is not None and count >= max_feeds:
                raise FeedError(
                    402, "limit_reached", f"this server has {count} of {max_feeds} feeds"
                )
            creator, created = await Creator.get_or_create(
                platform=new.platform,
                platform_id=found.platform_id,
                defaults={"login": found.login, "display_name": found.display_name},
                using_db=connection,
            )
            if not created and (creator.login, creator.display_name) != (
                found.login,
                found.display_name,
            ):
                creator.login, creator.display_name = found.login, found.display_name
                await creator.save(using_db=connection, update_fields=["login", "display_name"])
            feed = await Feed.create(
                guild_id=guild_id,
                creator=creator,
                channel_id=new.channel_id,
                role_id=new.role_id,
                template=new.template or template,
                announce_uploads=announce_uploads
                if new.announce_uploads is None
                else new.announce_uploads,
                person=new.person.strip().lower() if new.person else None,
                created_by=actor.id or 0,
                using_db=connection,
            )
            await record(
                "stream_feed.add",
                actor,
                guild_id=guild_id,
                target=f"{new.platform.value} {found.login} in channel {new.channel_id}",
                after={"feed_id": feed.id, "creator": found.login, "role_id": new.role_id},
                using_db=connection,
            )
    except IntegrityError:
        raise FeedError(
            409,
            "feed_exists",
            f"{found.login} already has a feed in that channel",
            {"channel_id": ["this creator already posts here"]},
        ) from None
    needs = created or creator.state in {SubscriptionState.REVOKED, SubscriptionState.FAILED}
    return feed_out(feed, creator), creator if needs else None


async def remove_feed(guild_id: int, feed_id: int, actor: Actor) -> Creator:
    """Remove a feed (404 when the guild has none with this id); its creator, whose
    subscription the caller ends if no feed follows them any more."""
    async with in_transaction() as connection:
        feed = (
            await Feed.filter(id=feed_id, guild_id=guild_id)
            .using_db(connection)
            .select_for_update()
            .first()
        )
        if feed is None:
            raise FeedError(404, "feed_not_found", "no such feed in this server")
        creator: Creator = await Creator.get(id=feed.creator_id).using_db(connection)  # type: ignore[attr-defined]
        await feed.delete(using_db=connection)
        await record(
            "stream_feed.remove",
            actor,
            guild_id=guild_id,
            target=f"{creator.platform.value} {creator.login} in channel {feed.channel_id}",
            before={"feed_id": feed_id, "creator": creator.login},
            using_db=connection,
        )
    return creator
