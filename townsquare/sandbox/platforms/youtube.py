"""A loopback YouTube: a WebSub hub (subscribe and unsubscribe with the callback verified by
its challenge, leases, Atom pushes signed with `X-Hub-Signature: sha1=` HMAC of the body with
the subscriber's `hub.secret`) and the Data API's `channels` and `videos` (with
`liveStreamingDetails`). Routes under `/youtube/hub` and `/youtube/v3`.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import hmac
import typing
import uuid
from xml.sax.saxutils import escape

from aiohttp import web

from townsquare.sandbox.platforms.common import (
    DEFAULT_CREATORS,
    Deliverer,
    Delivery,
    iso,
    json_error,
    utc_now,
)

__all__ = ["LoopbackYouTube", "channel_id_of"]

_TOPIC: typing.Final = "https://www.youtube.com/xml/feeds/videos.xml?channel_id="


def channel_id_of(login: str) -> str:
    """A stable `UC` + 22 characters channel id for a loopback creator."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(login.encode()).digest()).decode()
    return "UC" + digest[:22]


@dataclasses.dataclass(slots=True)
class _Video:
    id: str
    channel: str
    title: str
    published_at: datetime.datetime
    state: str = "none"
    live: bool = False
    started_at: datetime.datetime | None = None
    ended_at: datetime.datetime | None = None
    viewers: int = 0


@dataclasses.dataclass(slots=True)
class _Lease:
    callback: str
    secret: str
    expires_at: datetime.datetime


class LoopbackYouTube:
    def __init__(self, deliverer: Deliverer) -> None:
        self.deliverer = deliverer
        self.channels: dict[str, str] = {}
        """Channel id -> handle (without @)."""
        self.videos: dict[str, _Video] = {}
        self.leases: dict[str, dict[str, _Lease]] = {}
        """Channel id -> callback -> lease."""
        self.verifications: list[tuple[str, str, int]] = []
        """(mode, channel id, status the callback answered), for the tests."""
        for login in DEFAULT_CREATORS:
            self.add_creator(login)

    def add_creator(self, login: str) -> str:
        channel = channel_id_of(login)
        self.channels[channel] = login
        return channel

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/youtube/hub", self.hub),
            web.get("/youtube/v3/channels", self.list_channels),
            web.get("/youtube/v3/videos", self.list_videos),
        ]

    async def hub(self, request: web.Request) -> web.Response:
        form = await request.post()
        mode, callback = str(form.get("hub.mode", "")), str(form.get("hub.callback", ""))
        topic, secret = str(form.get("hub.topic", "")), str(form.get("hub.secret", ""))
        if mode not in {"subscribe", "unsubscribe"} or not callback or not topic.startswith(_TOPIC):
            return web.Response(status=400, text="hub.mode, hub.callback and hub.topic are needed")
        if len(secret.encode()) >= 200:
            return web.Response(status=400, text="hub.secret must be under 200 bytes")
        lease = int(str(form.get("hub.lease_seconds") or 432_000))
        channel = topic.removeprefix(_TOPIC)
        self.deliverer.spawn(self._verify(mode, channel, callback, secret, lease))
        return web.Response(status=202)

    async def _verify(
        self, mode: str, channel: str, callback: str, secret: str, lease: int
    ) -> None:
        challenge = uuid.uuid4().hex
        status, text = await self.deliverer.get(
            callback,
            {
                "hub.mode": mode,
                "hub.topic": _TOPIC + channel,
                "hub.challenge": challenge,
                "hub.lease_seconds": str(lease),
            },
        )
        self.verifications.append((mode, channel, status))
        if not (200 <= status < 300 and text == challenge):
            return
        leases = self.leases.setdefault(channel, {})
        if mode == "subscribe":
            expires = utc_now() + datetime.timedelta(seconds=lease)
            leases[callback] = _Lease(callback, secret, expires)
        else:
            leases.pop(callback, None)

    def _key_refused(self, request: web.Request) -> web.Response | None:
        if not request.query.get("key"):
            return json_error(403, "The request is missing a valid API key.")
        return None

    async def list_channels(self, request: web.Request) -> web.Response:
        refused = self._key_refused(request)
        if refused is not None:
            return refused
        ids = set(request.query.get("id", "").split(",")) - {""}
        handle = request.query.get("forHandle", "").lstrip("@")
        found = [c for c, login in self.channels.items() if c in ids or login == handle]
        items = [
            {
                "kind": "youtube#channel",
                "etag": uuid.uuid4().hex,
                "id": channel,
                "snippet": {
                    "title": self.channels[channel].capitalize(),
                    "description": "",
                    "customUrl": "@" + self.channels[channel],
                    "publishedAt": "2020-01-01T00:00:00Z",
                },
            }
            for channel in found
        ]
        return web.json_response(
            {
                "kind": "youtube#channelListResponse",
                "pageInfo": {"totalResults": len(items), "resultsPerPage": 5},
                "items": items,
            }
        )

    async def list_videos(self, request: web.Request) -> web.Response:
        refused = self._key_refused(request)
        if refused is not None:
            return refused
        ids = [video_id for video_id in request.query.get("id", "").split(",") if video_id]
        if len(ids) > 50:
            return json_error(400, "too many video ids")
        items = []
        for video in (self.videos[i] for i in ids if i in self.videos):
            item: dict[str, typing.Any] = {
                "kind": "youtube#video",
                "id": video.id,
                "snippet": {
                    "publishedAt": iso(video.published_at),
                    "channelId": video.channel,
                    "title": video.title,
                    "thumbnails": {
                        "high": {"url": f"https://i.ytimg.com/vi/{video.id}/hqdefault.jpg"}
                    },
                    "liveBroadcastContent": video.state,
                },
            }
            if video.live:
                details: dict[str, typing.Any] = {"scheduledStartTime": iso(video.published_at)}
                if video.started_at:
                    details["actualStartTime"] = iso(video.started_at)
                if video.ended_at:
                    details["actualEndTime"] = iso(video.ended_at)
                elif video.state == "live":
                    details["concurrentViewers"] = str(video.viewers)
                item["liveStreamingDetails"] = details
            items.append(item)
        return web.json_response(
            {
                "kind": "youtube#videoListResponse",
                "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
                "items": items,
            }
        )

    def publish(
        self, channel: str, *, title: str, live: bool, upcoming: bool = False
    ) -> tuple[str, list[Delivery]]:
        """A new video (an upload, a live stream, or one scheduled); pushed to subscribers."""
        video = _Video(uuid.uuid4().hex[:11], channel, title, utc_now(), live=live or upcoming)
        if live:
            video.state, video.started_at, video.viewers = "live", utc_now(), 12
        elif upcoming:
            video.state = "upcoming"
        self.videos[video.id] = video
        return video.id, self.push(video)

    def start(self, video_id: str) -> None:
        """An upcoming stream starts (YouTube pushes nothing for it)."""
        video = self.videos[video_id]
        video.state, video.started_at, video.viewers = "live", utc_now(), 7

    def end(self, video_id: str) -> list[Delivery]:
        video = self.videos[video_id]
        video.state, video.ended_at = "none", utc_now()
        return self.push(video)

    def live_video(self, channel: str) -> str | None:
        return next(
            (v.id for v in self.videos.values() if v.channel == channel and v.state == "live"), None
        )

    def push(self, video: _Video) -> list[Delivery]:
        body = _atom(video)
        sent = []
        now = utc_now()
        for lease in self.leases.get(video.channel, {}).values():
            if lease.expires_at < now:
                continue
            headers = {"Content-Type": "application/atom+xml"}
            if lease.secret:
                digest = hmac.new(lease.secret.encode(), body, hashlib.sha1).hexdigest()
                headers["X-Hub-Signature"] = f"sha1={digest}"
            sent.append(self.deliverer.send(lease.callback, headers, body))
        return sent


def _atom(video: _Video) -> bytes:
    title = escape(video.title)
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" xmlns="http://www.w3.org/2005/Atom">
 <link rel="hub" href="https://pubsubhubbub.appspot.com"/>
 <link rel="self" href="{_TOPIC}{video.channel}"/>
 <title>YouTube video feed</title>
 <updated>{iso(utc_now())}</updated>
 <entry>
  <id>yt:video:{video.id}</id>
  <yt:videoId>{video.id}</yt:videoId>
  <yt:channelId>{video.channel}</yt:channelId>
  <title>{title}</title>
  <link rel="alternate" href="https://www.youtube.com/watch?v={video.id}"/>
  <author>
   <name>{video.channel}</name>
   <uri>https://www.youtube.com/channel/{video.channel}</uri>
  </author>
  <published>{iso(video.published_at)}</published>
  <updated>{iso(utc_now())}</updated>
 </entry>
</feed>
""".encode()
