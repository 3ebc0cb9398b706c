"""From a verified delivery to a queued job: what each platform's webhook means.

The HTTP adapter reads the request, checks its size, and hands the raw body and headers to
the functions here, which verify, parse, and queue (or answer a challenge). Everything they
refuse is a :class:`~.verify.WebhookRefused` with the status the platform should see.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import time
import typing
import urllib.parse

import orjson
import structlog
from pydantic import ValidationError

from townsquare.core.alerts import raise_alert
from townsquare.core.events import encode_job
from townsquare.core.process_caches import CacheSlot
from townsquare.features.streams.domain.access import PlatformOffError, webhook_secret
from townsquare.features.streams.domain.atom import AtomError, parse_feed
from townsquare.features.streams.domain.events import StreamEvent, queue_job, queue_once
from townsquare.features.streams.domain.jobs import SUBSCRIBE_TASK, YOUTUBE_TASK
from townsquare.features.streams.domain.keys import DELIVERY_TTL_SECONDS
from townsquare.features.streams.domain.models import Creator, Platform, SubscriptionState
from townsquare.features.streams.domain.subscriptions import RESUBSCRIBE_REASONS
from townsquare.features.streams.domain.verify import (
    Signed,
    WebhookRefused,
    load_kick_key,
    parse_timestamp,
    verify_kick,
    verify_twitch,
    verify_youtube,
)

if typing.TYPE_CHECKING:
    from collections.abc import Mapping

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.features.streams.domain.events import Commands
    from townsquare.features.streams.domain.subscriptions import Platforms

__all__ = [
    "FOLLOWED",
    "MAX_WEBHOOK_BYTES",
    "WEBHOOK_HEADERS",
    "Answer",
    "WebhookContext",
    "kick_stream_id",
    "on_kick",
    "on_twitch",
    "on_youtube_push",
    "on_youtube_verification",
]

log = structlog.get_logger(__name__)

FOLLOWED_CACHE_SECONDS: typing.Final = 30.0
type Followed = dict[tuple[Platform, str], float]
FOLLOWED: typing.Final = CacheSlot[Followed]("streams.followed", dict)
"""Creators recently found followed, until when (monotonic): notifications skip the lookup
(the HTTP service's cache, `WebhookContext.followed`)."""

MAX_LEASE_SECONDS: typing.Final = 366 * 86_400
"""A hub's lease longer than this is taken as this (a silly number cannot overflow a date)."""
MAX_WEBHOOK_BYTES: typing.Final = 64 * 1024
"""Larger deliveries are refused (413): every platform's events are a few kilobytes."""
WEBHOOK_HEADERS: typing.Final = (
    "Twitch-Eventsub-Message-Id",
    "Twitch-Eventsub-Message-Type",
    "Twitch-Eventsub-Message-Timestamp",
    "Twitch-Eventsub-Message-Signature",
    "Kick-Event-Message-Id",
    "Kick-Event-Message-Timestamp",
    "Kick-Event-Signature",
    "Kick-Event-Type",
    "X-Hub-Signature",
)
"""The headers the handlers read (names as documented; HTTP compares them without case)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """What to answer the platform: a status and, for a challenge, the text to echo."""

    status: int
    text: str | None = None
    outcome: str = "accepted"


@dataclasses.dataclass(frozen=True, slots=True)
class WebhookContext:
    settings: Settings
    redis: aioredis.Redis
    keyspace: Keyspace
    platforms: Platforms
    now: datetime.datetime
    commands: Commands
    """Where the queueing script goes: the HTTP service's batcher (or a Redis client)."""
    followed: Followed = dataclasses.field(default_factory=dict)
    """The process's cache of creators found followed (:data:`FOLLOWED`)."""

    @property
    def maxlen(self) -> int:
        return self.settings.tasks.pipeline("jobs").maxlen


def _secret(settings: Settings, platform: Platform) -> bytes:
    try:
        return webhook_secret(settings, platform).get_secret_value().encode()
    except PlatformOffError:
        raise WebhookRefused(404, "platform_off", f"{platform.value} alerts are off") from None


def _json(body: bytes) -> dict[str, typing.Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise WebhookRefused(400, "invalid_json", "the body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookRefused(400, "invalid_json", "the body is not a JSON object")
    return payload


def _field(payload: Mapping[str, typing.Any], *path: str) -> str:
    node: typing.Any = payload
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    if node is None or isinstance(node, dict | list):
        raise WebhookRefused(400, "invalid_payload", f"{'.'.join(path)} is missing")
    return str(node)


async def _followed(ctx: WebhookContext, platform: Platform, platform_id: str) -> Creator:
    creator = await Creator.get_or_none(platform=platform, platform_id=platform_id[:64])
    if creator is None:
        raise WebhookRefused(
            404, "unknown_subscription", f"{platform.value} {platform_id[:64]} is not followed"
        )
    ctx.followed[(platform, creator.platform_id)] = time.monotonic() + FOLLOWED_CACHE_SECONDS
    return creator


async def _is_followed(ctx: WebhookContext, platform: Platform, platform_id: str) -> None:
    """Refuse (404) a notification about a creator nobody follows. A creator found followed
    within :data:`FOLLOWED_CACHE_SECONDS` is not looked up again (the event task looks again
    anyway, so a feed removed meanwhile posts nothing)."""
    if ctx.followed.get((platform, platform_id), 0.0) <= time.monotonic():
        await _followed(ctx, platform, platform_id)


async def on_twitch(ctx: WebhookContext, headers: Mapping[str, str], body: bytes) -> Answer:
    """An EventSub delivery: verification, notification or revocation."""
    message_id = headers.get("Twitch-Eventsub-Message-Id")
    delivery = Signed(
        message_id,
        headers.get("Twitch-Eventsub-Message-Timestamp"),
        headers.get("Twitch-Eventsub-Message-Signature"),
        body,
    )
    verify_twitch(_secret(ctx.settings, Platform.TWITCH), delivery, ctx.now)
    assert message_id is not None
    payload = _json(body)
    kind = headers.get("Twitch-Eventsub-Message-Type", "")
    user_id = _field(payload, "subscription", "condition", "broadcaster_user_id")
    if kind == "notification":
        await _is_followed(ctx, Platform.TWITCH, user_id)
        return await _twitch_notification(ctx, user_id, message_id, payload)
    creator = await _followed(ctx, Platform.TWITCH, user_id)
    match kind:
        case "webhook_callback_verification":
            challenge = _field(payload, "challenge")
            await Creator.filter(id=creator.id).update(
                state=SubscriptionState.ENABLED, verified_at=ctx.now, last_error=None
            )
            return Answer(200, challenge, "challenge answered")
        case "revocation":
            return await _revoked(
                ctx, creator, message_id, _field(payload, "subscription", "status")
            )
        case _:
            raise WebhookRefused(400, "invalid_type", f"unknown message type {kind[:40]!r}")


def _event(**fields: typing.Any) -> StreamEvent:
    """The event, or a 400 naming what the platform sent that we cannot take."""
    try:
        return StreamEvent(**fields)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise WebhookRefused(400, "invalid_payload", f"{where}: {problem['msg']}") from None


async def _twitch_notification(
    ctx: WebhookContext, user_id: str, message_id: str, payload: dict[str, typing.Any]
) -> Answer:
    event_type = _field(payload, "subscription", "type")
    if event_type == "stream.online":
        event_body = payload.get("event")
        if isinstance(event_body, dict) and event_body.get("type", "live") != "live":
            return Answer(204, outcome="not a live stream (rerun, premiere, ...)")
        event = _event(
            platform=Platform.TWITCH,
            creator=user_id,
            kind="online",
            stream_id=_field(payload, "event", "id"),
            at=parse_timestamp(_field(payload, "event", "started_at")),
        )
    elif event_type == "stream.offline":
        event = _event(platform=Platform.TWITCH, creator=user_id, kind="offline", at=ctx.now)
    else:
        raise WebhookRefused(400, "invalid_type", f"unexpected event {event_type[:40]!r}")
    queued = await queue_once(ctx.commands, ctx.keyspace, message_id, event, maxlen=ctx.maxlen)
    return Answer(204, outcome="queued" if queued else "replayed message id: ignored")


async def _revoked(ctx: WebhookContext, creator: Creator, delivery: str, reason: str) -> Answer:
    """The platform ended the subscription: the feeds are unhealthy, the operators told, and
    a new subscription asked for when the reason allows."""
    await Creator.filter(id=creator.id).update(
        state=SubscriptionState.REVOKED, last_error=f"revoked by {creator.platform.value}: {reason}"
    )
    again = reason in RESUBSCRIBE_REASONS
    marker = f"revocation-{delivery}"
    if again:
        job = encode_job(SUBSCRIBE_TASK, creator.id)
        first = await queue_job(
            ctx.commands, ctx.keyspace, creator.platform, marker, job, maxlen=ctx.maxlen
        )
    else:
        first = bool(
            await ctx.redis.set(
                ctx.keyspace.key("streams_delivery", creator.platform.value, marker),
                "1",
                nx=True,
                ex=DELIVERY_TTL_SECONDS,
            )
        )
    if first:
        await raise_alert(
            ctx.redis,
            ctx.keyspace,
            source="streams.webhook",
            level="warning",
            message=(
                f"{creator.platform.value} revoked the subscription to {creator.login} ({reason}); "
                + ("subscribing again" if again else "its feeds get no alerts until it is fixed")
            ),
        )
    return Answer(204, outcome=f"revoked ({reason})")


async def on_youtube_verification(ctx: WebhookContext, query: Mapping[str, str]) -> Answer:
    """The hub checks that we asked for this (un)subscription: echo `hub.challenge` or 404."""
    _secret(ctx.settings, Platform.YOUTUBE)
    mode, topic = query.get("hub.mode"), query.get("hub.topic")
    challenge = query.get("hub.challenge")
    if not mode or not topic or not challenge:  # WebSub refuses any bad verification with 404
        raise WebhookRefused(
            404, "unknown_subscription", "hub.mode, hub.topic and hub.challenge are needed"
        )
    try:
        parsed = urllib.parse.urlparse(topic)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise WebhookRefused(404, "unknown_subscription", "hub.topic is not a URL") from None
    channel = urllib.parse.parse_qs(parsed.query).get("channel_id", [""])[0]
    if not channel or not parsed.path.endswith("/feeds/videos.xml"):
        raise WebhookRefused(404, "unknown_subscription", "not a YouTube channel feed")
    creator = await Creator.get_or_none(platform=Platform.YOUTUBE, platform_id=channel[:64])
    if mode == "subscribe" and creator is not None:
        lease = query.get("hub.lease_seconds", "")
        seconds = min(int(lease), MAX_LEASE_SECONDS) if lease.isdigit() else None
        expires = ctx.now + datetime.timedelta(seconds=seconds) if seconds is not None else None
        await Creator.filter(id=creator.id).update(
            state=SubscriptionState.ENABLED,
            verified_at=ctx.now,
            expires_at=expires,
            last_error=None,
        )
        return Answer(200, challenge, "subscription confirmed")
    if mode == "unsubscribe" and creator is None:
        return Answer(200, challenge, "unsubscription confirmed")
    if mode == "denied" and creator is not None:
        reason = query.get("hub.reason", "no reason given")[:200]
        await Creator.filter(id=creator.id).update(
            state=SubscriptionState.FAILED, last_error=f"the hub denied the subscription: {reason}"
        )
        return Answer(200, None, "denied")
    raise WebhookRefused(
        404, "unknown_subscription", f"we did not ask to {mode[:20]} {channel[:64]}"
    )


async def on_youtube_push(ctx: WebhookContext, headers: Mapping[str, str], body: bytes) -> Answer:
    """A pushed Atom feed: its videos are queued for the Data API to tell live from upload."""
    verify_youtube(
        _secret(ctx.settings, Platform.YOUTUBE), signature=headers.get("X-Hub-Signature"), body=body
    )
    try:
        entries, deleted = parse_feed(body)
    except AtomError as error:
        raise WebhookRefused(400, "invalid_xml", str(error)) from None
    if not entries:
        return Answer(204, outcome=f"nothing to do ({deleted} deleted entries ignored)")
    channels = {entry.channel_id for entry in entries}
    rows = await Creator.filter(platform=Platform.YOUTUBE, platform_id__in=channels)
    followed = {creator.platform_id for creator in rows}
    if not followed:
        raise WebhookRefused(410, "unknown_subscription", "no followed channel in this feed")
    videos = [
        [entry.video_id, entry.channel_id] for entry in entries if entry.channel_id in followed
    ]
    delivery = hashlib.sha256(body).hexdigest()
    job = encode_job(YOUTUBE_TASK, videos)
    queued = await queue_job(
        ctx.commands, ctx.keyspace, Platform.YOUTUBE, delivery, job, maxlen=ctx.maxlen
    )
    return Answer(204, outcome="queued" if queued else "a push seen before: ignored")


def kick_stream_id(user_id: str, started_at: datetime.datetime) -> str:
    """Kick gives a livestream no id: the broadcaster and the start (to the second) are one."""
    return f"{user_id}/{int(started_at.timestamp())}"


async def _kick_key(ctx: WebhookContext) -> typing.Any:
    key_name = ctx.keyspace.key("streams_kick_key")
    pem = await ctx.redis.get(key_name)
    if pem is None:
        pem = (await ctx.platforms.kick().public_key()).encode()
        await ctx.redis.set(key_name, pem, ex=3600)
    try:
        return load_kick_key(pem)
    except ValueError:
        await ctx.redis.delete(key_name)
        raise


async def on_kick(ctx: WebhookContext, headers: Mapping[str, str], body: bytes) -> Answer:
    """A Kick webhook: `livestream.status.updated` becomes an online or offline event."""
    _secret(ctx.settings, Platform.KICK)
    message_id = headers.get("Kick-Event-Message-Id")
    delivery = Signed(
        message_id,
        headers.get("Kick-Event-Message-Timestamp"),
        headers.get("Kick-Event-Signature"),
        body,
    )
    verify_kick(await _kick_key(ctx), delivery, ctx.now)
    assert message_id is not None
    kind = headers.get("Kick-Event-Type", "")
    if kind != "livestream.status.updated":
        return Answer(204, outcome=f"event {kind[:40]!r} ignored")
    payload = _json(body)
    creator = await _followed(ctx, Platform.KICK, _field(payload, "broadcaster", "user_id"))
    if creator.state is not SubscriptionState.ENABLED:
        await Creator.filter(id=creator.id).update(
            state=SubscriptionState.ENABLED, verified_at=ctx.now, last_error=None
        )
    started = parse_timestamp(_field(payload, "started_at"))
    live = payload.get("is_live") is True
    ended = payload.get("ended_at")
    event = _event(
        platform=Platform.KICK,
        creator=creator.platform_id,
        kind="online" if live else "offline",
        stream_id=kick_stream_id(creator.platform_id, started),
        at=started if live else (parse_timestamp(str(ended)) if ended else ctx.now),
        title=str(payload.get("title") or "")[:300],
    )
    queued = await queue_once(ctx.commands, ctx.keyspace, message_id, event, maxlen=ctx.maxlen)
    return Answer(204, outcome="queued" if queued else "replayed message id: ignored")
