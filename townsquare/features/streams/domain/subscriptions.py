"""One platform subscription per creator: asking for it, ending it, keeping it alive.

- Twitch: EventSub `stream.online` and `stream.offline` webhooks; confirmed when Twitch's
  `webhook_callback_verification` reaches our callback.
- YouTube: a WebSub lease on the channel's feed; confirmed (with its lease) when the hub's
  verification GET reaches our callback; renewed a day before the lease ends.
- Kick: a `livestream.status.updated` webhook subscription; confirmed by its first signed
  delivery. Until then the creator is polled.

A failed request leaves the creator `failed` with the error; the renewal schedule tries
again with backoff (:func:`due_for_retry`).
"""

from __future__ import annotations

import datetime
import typing

import structlog

from townsquare.features.streams.domain.access import callback_url, platform_access
from townsquare.features.streams.domain.models import Creator, Platform, SubscriptionState
from townsquare.features.streams.domain.platforms.base import PlatformError
from townsquare.features.streams.domain.platforms.kick import KickClient
from townsquare.features.streams.domain.platforms.twitch import TwitchClient
from townsquare.features.streams.domain.platforms.youtube import YouTubeClient

if typing.TYPE_CHECKING:
    import aiohttp
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.features.streams.domain.platforms.base import CreatorInfo, PlatformClient

__all__ = [
    "RENEW_BEFORE",
    "RESUBSCRIBE_REASONS",
    "Platforms",
    "due_for_retry",
    "lost_kick_subscriptions",
    "subscribe_creator",
    "subscription_problem",
    "unsubscribe_creator",
]

log = structlog.get_logger(__name__)

RENEW_BEFORE: typing.Final = datetime.timedelta(days=1)
"""A WebSub lease is renewed this long before it ends."""
RESUBSCRIBE_REASONS: typing.Final = frozenset({"notification_failures_exceeded"})
"""Twitch revocations after which subscribing again can work (the others, a removed user,
a revoked authorization or a removed version, would only be revoked again)."""
RETRY_BASE: typing.Final = datetime.timedelta(minutes=1)
RETRY_MAX: typing.Final = datetime.timedelta(hours=6)
PENDING_GRACE: typing.Final = datetime.timedelta(minutes=10)
"""A Twitch or YouTube subscription not confirmed within this is asked for again."""


class Platforms:
    """The platform clients of one process, over its HTTP session and Redis."""

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        redis: aioredis.Redis,
        keyspace: Keyspace,
        exhausted: dict[str, float] | None = None,
    ) -> None:
        self.settings = settings
        self.session = session
        self.redis = redis
        self.keyspace = keyspace
        self.exhausted: dict[str, float] = {} if exhausted is None else exhausted
        """The process's rate-limit pauses (`platforms.base.EXHAUSTED`), shared by the
        clients made here."""

    def twitch(self) -> TwitchClient:
        access = platform_access(self.settings, Platform.TWITCH)
        return TwitchClient(access, self.session, self.redis, self.keyspace, self.exhausted)

    def kick(self) -> KickClient:
        access = platform_access(self.settings, Platform.KICK)
        return KickClient(access, self.session, self.redis, self.keyspace, self.exhausted)

    def youtube(self) -> YouTubeClient:
        access = platform_access(self.settings, Platform.YOUTUBE)
        return YouTubeClient(access, self.session, self.redis, self.keyspace, self.exhausted)

    def client(self, platform: Platform) -> PlatformClient:
        return {
            Platform.TWITCH: self.twitch,
            Platform.KICK: self.kick,
            Platform.YOUTUBE: self.youtube,
        }[platform]()

    async def lookup(self, platform: Platform, query: str) -> CreatorInfo | None:
        """The creator named `query` on `platform`, as the platform knows them."""
        client = self.client(platform)
        assert isinstance(client, TwitchClient | KickClient | YouTubeClient)
        return await client.lookup(query)


async def subscribe_creator(platforms: Platforms, creator: Creator) -> None:
    """Ask the platform for the creator's subscription; the outcome is saved on the creator."""
    settings = platforms.settings
    try:
        match creator.platform:
            case Platform.TWITCH:
                twitch = platforms.twitch()
                ids = await twitch.subscribe(
                    creator.platform_id, callback_url(settings, Platform.TWITCH)
                )
            case Platform.KICK:
                ids = await platforms.kick().subscribe(creator.platform_id)
            case _:
                await platforms.youtube().hub(
                    "subscribe", creator.platform_id, callback_url(settings, Platform.YOUTUBE)
                )
                ids = []
    except PlatformError as error:
        await Creator.filter(id=creator.id).update(
            state=SubscriptionState.FAILED,
            last_error=f"subscribing failed: {error}"[:500],
            failures=creator.failures + 1,
        )
        log.warning(
            "streams.subscribe_failed",
            platform=creator.platform.value,
            creator=creator.login,
            status=error.status,
        )
        raise
    # The confirmation may have arrived while we waited for the answer: keep it.
    await (
        Creator.filter(id=creator.id)
        .exclude(state=SubscriptionState.ENABLED)
        .update(state=SubscriptionState.PENDING)
    )
    await Creator.filter(id=creator.id).update(subscription_ids=ids, last_error=None, failures=0)
    log.info("streams.subscribed", platform=creator.platform.value, creator=creator.login)


async def unsubscribe_creator(platforms: Platforms, creator: Creator) -> None:
    """End the creator's platform subscription (the caller deletes the creator)."""
    match creator.platform:
        case Platform.TWITCH:
            await platforms.twitch().unsubscribe(creator.subscription_ids)
        case Platform.KICK:
            await platforms.kick().unsubscribe(creator.subscription_ids)
        case _:
            await platforms.youtube().hub(
                "unsubscribe",
                creator.platform_id,
                callback_url(platforms.settings, Platform.YOUTUBE),
            )


async def lost_kick_subscriptions(platforms: Platforms) -> list[Creator]:
    """Kick creators whose subscription Kick no longer has (it drops one after a day of failed
    deliveries, and says nothing): back to `pending`, so they are polled, and returned for a
    new subscription."""
    creators = [c for c in await Creator.filter(platform=Platform.KICK) if c.subscription_ids]
    if not creators:
        return []
    existing = await platforms.kick().subscription_ids()
    lost = [c for c in creators if not set(c.subscription_ids) <= existing]
    for creator in lost:
        await Creator.filter(id=creator.id).update(
            state=SubscriptionState.PENDING,
            subscription_ids=[],
            last_error="Kick no longer had the subscription",
        )
    return lost


def subscription_problem(creator: Creator, now: datetime.datetime) -> str | None:
    """What is wrong with the creator's subscription, for an operator alert; None if nothing:
    revoked or failed, unconfirmed past the grace period (Kick: polled instead), or a lease
    that has run out."""
    if creator.state in {SubscriptionState.REVOKED, SubscriptionState.FAILED}:
        return creator.last_error or f"the subscription is {creator.state.value}"
    unconfirmed = (
        creator.state is SubscriptionState.PENDING and creator.platform is not Platform.KICK
    )
    if unconfirmed and now - creator.updated_at >= PENDING_GRACE:
        return "the platform has not confirmed the subscription"
    if creator.expires_at is not None and creator.expires_at < now:
        return "the subscription's lease has run out"
    return None


def due_for_retry(creator: Creator, now: datetime.datetime) -> bool:
    """Whether the schedule should (re)subscribe the creator now."""
    age = now - creator.updated_at
    match creator.state:
        case SubscriptionState.FAILED:
            wait: datetime.timedelta = min(RETRY_MAX, RETRY_BASE * 2 ** min(creator.failures, 12))
            return age >= wait
        case SubscriptionState.PENDING:
            return age >= PENDING_GRACE and (
                creator.platform is not Platform.KICK or not creator.subscription_ids
            )
        case SubscriptionState.ENABLED:
            return creator.expires_at is not None and creator.expires_at - now < RENEW_BEFORE
        case _:
            return False
