"""YouTube: the Data API (channels, videos with their live details) with an API key, and the
WebSub hub (subscribe and unsubscribe with a callback, a secret and a lease)."""

from __future__ import annotations

import datetime
import typing

import aiohttp
import orjson

from townsquare.features.streams.domain.platforms.base import (
    TIMEOUT,
    CreatorInfo,
    PlatformClient,
)

__all__ = ["FINAL_CACHE_SECONDS", "LEASE_SECONDS", "Video", "YouTubeClient", "topic_of"]

LEASE_SECONDS: typing.Final = 5 * 86_400
"""The lease asked of the hub; renewed by the schedule a day before it ends."""
FINAL_CACHE_SECONDS: typing.Final = 600
"""How long a video in a final state (upload, ended stream) is remembered."""
_BATCH: typing.Final = 50
"""videos.list takes at most 50 ids per call (one quota unit whatever the count)."""


def topic_of(channel_id: str) -> str:
    """The channel's feed, the WebSub topic."""
    return f"https://www.youtube.com/xml/feeds/videos.xml?channel_id={channel_id}"


class Video(typing.NamedTuple):
    video_id: str
    channel_id: str
    title: str
    state: typing.Literal["none", "upcoming", "live"]
    """`liveBroadcastContent`: `none` is an upload, or a live stream that has ended."""
    was_live: bool
    """Has `liveStreamingDetails` (a live stream, upcoming, running or ended)."""
    started_at: datetime.datetime | None
    ended_at: datetime.datetime | None
    viewers: int | None
    thumbnail_url: str
    published_at: datetime.datetime | None


def _time(value: typing.Any) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(str(value)) if value else None


def _video(item: dict[str, typing.Any]) -> Video:
    """A `videos.list` item as a :class:`Video`."""
    snippet = item.get("snippet") or {}
    details = item.get("liveStreamingDetails")
    live = details or {}
    thumbs = snippet.get("thumbnails") or {}
    best = thumbs.get("maxres") or thumbs.get("high") or thumbs.get("default") or {}
    viewers = live.get("concurrentViewers")
    state = snippet.get("liveBroadcastContent")
    return Video(
        video_id=str(item["id"]),
        channel_id=str(snippet.get("channelId") or ""),
        title=str(snippet.get("title") or ""),
        state=state if state in {"upcoming", "live"} else "none",
        was_live=details is not None,
        started_at=_time(live.get("actualStartTime")),
        ended_at=_time(live.get("actualEndTime")),
        viewers=int(viewers) if viewers is not None else None,
        thumbnail_url=str(best.get("url") or ""),
        published_at=_time(snippet.get("publishedAt")),
    )


def _decoded(raw: bytes | str) -> Video:
    """A video remembered by :meth:`YouTubeClient.videos`."""
    fields = orjson.loads(raw)
    for name in ("started_at", "ended_at", "published_at"):
        fields[name] = _time(fields[name])
    return Video(**fields)


class YouTubeClient(PlatformClient):
    """The Data API authenticates with the API key (`client_secret`), not a token."""

    async def call(self, method: str, path: str, **kwargs: typing.Any) -> tuple[int, typing.Any]:
        params = list(kwargs.pop("params", None) or [])
        params.append(("key", self.access.client_secret.get_secret_value()))
        return await super().call(method, path, params=params, authenticated=False, **kwargs)

    async def lookup(self, query: str) -> CreatorInfo | None:
        """The channel with this id (`UC...`) or handle (`@name`)."""
        by = ("id", query) if query.startswith("UC") else ("forHandle", query.lstrip("@"))
        status, body = await self.call("GET", "/channels", params=[("part", "snippet"), by])
        if status in {400, 404}:
            return None
        if status != 200:
            raise self.fail(status, "GET /channels")
        items = body.get("items") or []
        if not items:
            return None
        snippet = items[0].get("snippet") or {}
        handle = str(snippet.get("customUrl") or items[0]["id"])
        return CreatorInfo(str(items[0]["id"]), handle, str(snippet.get("title") or handle))

    async def videos(self, video_ids: typing.Sequence[str]) -> dict[str, Video]:
        """These videos (any number, asked 50 at a time), by id; unknown ids absent.

        A video in a final state (an upload, or a stream that has ended) is remembered for
        :data:`FINAL_CACHE_SECONDS`: the hub pushes every edit of a video, and each would
        cost a quota unit. Live and upcoming videos are always asked again.
        """
        found: dict[str, Video] = {}
        keys = [self.keyspace.key("streams_video", video_id) for video_id in video_ids]
        cached = await self.redis.mget(keys) if keys else []
        for raw in cached:
            if raw is not None:
                video = _decoded(raw)
                found[video.video_id] = video
        missing = [video_id for video_id in video_ids if video_id not in found]
        for start in range(0, len(missing), _BATCH):
            chunk = ",".join(missing[start : start + _BATCH])
            status, body = await self.call(
                "GET", "/videos", params=[("part", "snippet,liveStreamingDetails"), ("id", chunk)]
            )
            if status != 200:
                raise self.fail(status, "GET /videos")
            for item in body.get("items") or []:
                video = _video(item)
                found[video.video_id] = video
                if video.state == "none":
                    await self.redis.set(
                        self.keyspace.key("streams_video", video.video_id),
                        orjson.dumps(video._asdict(), default=str),
                        ex=FINAL_CACHE_SECONDS,
                    )
        return found

    async def hub(
        self, mode: typing.Literal["subscribe", "unsubscribe"], channel_id: str, callback: str
    ) -> None:
        """Ask the hub to (un)subscribe our callback to the channel's feed; it then verifies
        the callback with a GET (answered by our webhook route)."""
        form = {
            "hub.mode": mode,
            "hub.callback": callback,
            "hub.topic": topic_of(channel_id),
            "hub.verify": "async",
            "hub.lease_seconds": str(LEASE_SECONDS),
            "hub.secret": self.access.webhook_secret.get_secret_value(),
        }
        try:
            async with self.session.post(
                self.access.auth_url, data=form, timeout=TIMEOUT
            ) as answer:
                status = answer.status
                text = (await answer.text())[:200]
        except (aiohttp.ClientError, TimeoutError) as error:
            raise self.fail(0, f"hub: {error!r}") from None
        if status not in {202, 204}:
            raise self.fail(status, f"hub {mode}: {text}")
