"""What the feed routes share (dashboard API, internal API for `/alerts`): the premium
limit, the channel and role checks against Discord's facts, the platform lookup, the
subscription job; every refusal as an API error."""

from __future__ import annotations

import typing

from townsquare.core.config.references import reference_errors
from townsquare.core.events import encode_job
from townsquare.features.streams.domain import feeds
from townsquare.features.streams.domain.access import PlatformOffError
from townsquare.features.streams.domain.config import AlertsSection
from townsquare.features.streams.domain.feeds import FEEDS_LIMIT, FeedError, FeedOut, NewFeed
from townsquare.features.streams.domain.jobs import SUBSCRIBE_TASK, UNSUBSCRIBE_TASK
from townsquare.features.streams.domain.platforms.base import EXHAUSTED, PlatformError
from townsquare.features.streams.domain.subscriptions import Platforms
from townsquare.http.config_changes import DiscordUnavailableError, read_config
from townsquare.http.errors import APIError
from townsquare.http.guild_lookups import guild_channel_facts, guild_role_facts
from townsquare.http.premium import require_premium
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from townsquare.core.audit.service import Actor
    from townsquare.features.streams.domain.models import Creator

__all__ = ["add_feed", "feed_api_error", "list_feeds", "remove_feed"]


def feed_api_error(error: FeedError) -> APIError:
    return APIError(error.status, error.code, error.message, error.fields)


async def _feeds_allowed(guild_id: int, usage: int) -> int | None:
    """The most feeds the guild may have (None: no limit); 402 `premium_required` when it has
    them all (the one place this feature asks the premium gate)."""
    verdict = await require_premium(guild_id, FEEDS_LIMIT, usage=usage)
    return verdict.value if isinstance(verdict.value, int) and verdict.value is not True else None


async def _check_references(guild_id: int, new: NewFeed) -> None:
    added: dict[str, typing.Any] = {"channel_id": ("text_channel", [new.channel_id])}
    roles = None
    if new.role_id is not None:
        added["role_id"] = ("role", [new.role_id])
        roles = await guild_role_facts(guild_id)
    channels = await guild_channel_facts(guild_id)
    if channels is None or (new.role_id is not None and roles is None):
        raise DiscordUnavailableError
    problems = reference_errors(added, roles, channels)
    if problems:
        raise APIError(400, "invalid_body", "the channel or role is not this server's", problems)


async def _queue(job: bytes) -> None:
    app_state = state()
    await app_state.require_redis().xadd(
        app_state.keyspace.key("stream", "jobs"),
        {"data": job},
        maxlen=app_state.settings.tasks.pipeline("jobs").maxlen,
        approximate=True,
    )


async def list_feeds(guild_id: int) -> list[FeedOut]:
    return await feeds.list_feeds(guild_id)


async def add_feed(guild_id: int, new: NewFeed, actor: Actor) -> FeedOut:
    """Add the feed (see :func:`townsquare.features.streams.domain.feeds.add_feed`)."""
    try:
        feeds.creator_query(new.platform, new.creator)
    except FeedError as refused:
        raise feed_api_error(refused) from None
    max_feeds = await _feeds_allowed(guild_id, await feeds.count_feeds(guild_id))
    await _check_references(guild_id, new)
    defaults = (await read_config(guild_id)).config.section(AlertsSection)
    app_state = state()
    platforms = Platforms(
        app_state.settings,
        app_state.require_client(),
        app_state.require_redis(),
        app_state.keyspace,
        app_state.caches.get(EXHAUSTED),
    )
    try:
        added, creator = await feeds.add_feed(
            guild_id,
            new,
            actor,
            lookup=platforms.lookup,
            template=defaults.template,
            announce_uploads=defaults.announce_uploads,
            max_feeds=max_feeds,
        )
    except FeedError as refused:
        if refused.status == 402:  # another add took the last place meanwhile
            await _feeds_allowed(guild_id, await feeds.count_feeds(guild_id))
        raise feed_api_error(refused) from None
    except PlatformOffError as error:
        raise APIError(409, "platform_off", str(error)) from None
    except PlatformError as error:
        raise APIError(
            502,
            "platform_unavailable",
            f"{new.platform.value} could not be asked about {new.creator!r}; try again shortly",
        ) from error
    if creator is not None:
        await _queue(encode_job(SUBSCRIBE_TASK, creator.id))
    return added


async def remove_feed(guild_id: int, feed_id: int, actor: Actor) -> None:
    try:
        creator: Creator = await feeds.remove_feed(guild_id, feed_id, actor)
    except FeedError as refused:
        raise feed_api_error(refused) from None
    await _queue(encode_job(UNSUBSCRIBE_TASK, creator.id))
