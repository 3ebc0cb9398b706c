"""`streams.poll`: what each platform's poll reads when it is due, and the sandbox demo's
feeds."""

from __future__ import annotations

import datetime
import json
import time
import typing

import aiohttp
import structlog

from townsquare.core.audit.service import Actor
from townsquare.core.discord import sandbox_info_path
from townsquare.core.events import encode_job
from townsquare.features.streams.domain.access import (
    PlatformOffError,
    callback_url,
    platform_access,
)
from townsquare.features.streams.domain.config import DEFAULT_TEMPLATE
from townsquare.features.streams.domain.feeds import NewFeed, add_feed
from townsquare.features.streams.domain.jobs import (
    POLL_TASK,
    SUBSCRIBE_TASK,
)
from townsquare.features.streams.domain.models import (
    Feed,
    Platform,
    Stream,
)
from townsquare.features.streams.domain.platforms.base import PlatformError
from townsquare.features.streams.domain.polling import (
    UPCOMING_FOR,
    claim_poll,
    kick_events,
    poll_done,
    youtube_events,
)
from townsquare.features.streams.tasks._shared import (
    Resources,
    apply_events,
    platforms_of,
    queue_jobs,
)
from townsquare.tasks.registry import REGISTRY

if typing.TYPE_CHECKING:
    from townsquare.features.streams.domain.platforms.twitch import LiveStream
    from townsquare.features.streams.domain.subscriptions import (
        Platforms,
    )
    from townsquare.tasks.resources import TaskResources

logger = structlog.get_logger(__name__)

__all__ = ["poll"]


@REGISTRY.task("jobs", POLL_TASK)
async def poll(resources: Resources) -> int:
    """Poll each platform that is due; returns the card jobs queued."""
    queued = 0
    now = time.time()
    async with platforms_of(resources) as platforms:
        if resources.settings.uses_sandbox:
            await _sandbox_demo(resources, platforms)
        for platform, work in (
            (Platform.TWITCH, _poll_twitch_viewers),
            (Platform.KICK, _poll_kick),
            (Platform.YOUTUBE, _poll_upcoming),
        ):
            try:
                interval = platform_access(resources.settings, platform).poll_interval_seconds
            except PlatformOffError:
                continue
            failures = await claim_poll(resources.redis, resources.keyspace, platform, now)
            if failures is None:
                continue
            try:
                queued += await work(resources, platforms)
            except PlatformError as error:
                failures += 1
                logger.warning("streams.poll_failed", platform=platform.value, error=str(error))
            else:
                failures = 0
            await poll_done(
                resources.redis,
                resources.keyspace,
                platform,
                now,
                interval=interval,
                failures=failures,
            )
    return queued


_DEMO_FEEDS: typing.Final = (
    (Platform.TWITCH, "dorian", False),
    (Platform.KICK, "elsie", False),
    (Platform.YOUTUBE, "@elsie", True),
)
"""The demo's feeds (`make run`): the Streamer members, in #media, pinging @Streamer."""


DEMO_CLAIM_SECONDS: typing.Final = 60
"""How long a poll setting the demo up holds it: a worker SIGKILLed in the middle (the chaos
run) leaves the claim, and the demo is set up by a poll a minute later. It held an hour, so
a kill there left the demo guild without feeds for the whole run."""
NOT_DEMO_SECONDS: typing.Final = 3600
"""A sandbox not running its demo is asked again after this long."""


async def _sandbox_demo(resources: TaskResources, platforms: Platforms) -> None:
    """Against a sandbox running its demo (its crowd is on), set the demo guild's feeds up
    once: the Streamer members on each platform, and the loopback Kick's webhook URL."""
    marker = resources.keyspace.key("streams_demo")
    if not await resources.redis.set(marker, "1", nx=True, ex=DEMO_CLAIM_SECONDS):
        return  # done, being done, or not a demo (asked within the hour)
    public = resources.settings.http.public_url.rstrip("/")
    try:  # the platforms verify our callbacks at once: wait for our HTTP service
        async with platforms.session.get(
            public + "/healthz", timeout=aiohttp.ClientTimeout(total=2)
        ) as answer:
            ready = answer.status == 200
    except (aiohttp.ClientError, TimeoutError):
        ready = False
    if not ready:
        await resources.redis.delete(marker)
        return
    info = json.loads(sandbox_info_path(resources.settings).read_text(encoding="utf-8"))
    control = str(info["control_url"]) + "/platforms"
    async with platforms.session.get(control) as answer:
        if answer.status != 200 or not (await answer.json()).get("demo"):
            await resources.redis.expire(marker, NOT_DEMO_SECONDS)  # ask again in an hour
            return
    async with platforms.session.post(
        control + "/kick/webhook", json={"url": callback_url(resources.settings, Platform.KICK)}
    ):
        pass
    rest = await resources.discord_rest()
    async for guild in rest.fetch_my_guilds():
        channels = await rest.fetch_guild_channels(guild.id)
        roles = await rest.fetch_roles(guild.id)
        media = next((c for c in channels if c.name == "media"), None)
        streamer = next((r for r in roles if r.name == "Streamer"), None)
        if media is None or await Feed.filter(guild_id=int(guild.id)).exists():
            continue
        for platform, creator, uploads in _DEMO_FEEDS:
            new = NewFeed(
                platform=platform,
                creator=creator,
                channel_id=int(media.id),
                role_id=int(streamer.id) if streamer else None,
                announce_uploads=uploads,
            )
            _, subscribe_to = await add_feed(
                int(guild.id),
                new,
                Actor.system("demo"),
                lookup=platforms.lookup,
                template=DEFAULT_TEMPLATE,
                announce_uploads=uploads,
                max_feeds=None,
            )
            if subscribe_to is not None:
                await queue_jobs(resources, [encode_job(SUBSCRIBE_TASK, subscribe_to.id)])
        logger.info("streams.demo_feeds", guild_id=int(guild.id))
    await resources.redis.persist(marker)


async def _poll_twitch_viewers(resources: TaskResources, platforms: Platforms) -> int:
    """The viewer counts of the Twitch streams still open (Helix, 100 broadcasters a call),
    so an ended card can show the peak. The end itself comes by webhook."""
    open_streams = await Stream.filter(
        creator__platform=Platform.TWITCH, ended_at__isnull=True, upload=False
    ).select_related("creator")
    broadcasters = sorted({stream.creator.platform_id for stream in open_streams})
    live: dict[str, LiveStream] = {}
    for start in range(0, len(broadcasters), 100):
        live |= await platforms.twitch().live_streams(broadcasters[start : start + 100])
    for stream in open_streams:
        seen = live.get(stream.creator.platform_id)
        if seen is not None and seen.stream_id == stream.external_id:
            peak = max(stream.peak_viewers or 0, seen.viewers)
            await Stream.filter(id=stream.id).update(viewers=seen.viewers, peak_viewers=peak)
    return 0


async def _poll_kick(resources: TaskResources, platforms: Platforms) -> int:
    events = await kick_events(platforms.kick(), datetime.datetime.now(datetime.UTC))
    return await apply_events(resources, events)


async def _poll_upcoming(resources: TaskResources, platforms: Platforms) -> int:
    """Upcoming YouTube streams, asked again until they start (or are too old)."""
    key = resources.keyspace.key("streams_upcoming")
    now = datetime.datetime.now(datetime.UTC)
    await resources.redis.zremrangebyscore(key, 0, (now - UPCOMING_FOR).timestamp())
    raw_ids = await resources.redis.zrange(key, 0, 499)
    ids = [raw.decode() if isinstance(raw, bytes) else str(raw) for raw in raw_ids]
    if not ids:
        return 0
    found = await platforms.youtube().videos(ids)
    events, _, done = youtube_events(found.values(), now)
    gone = [video_id for video_id in ids if video_id not in found]
    if done or gone:
        await resources.redis.zrem(key, *done, *gone)
    return await apply_events(resources, events)
