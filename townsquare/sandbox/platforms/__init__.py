"""Loopback Twitch, Kick and YouTube beside the sandbox's Discord (docs/sandbox.md).

They speak the platforms' documented payload shapes (OAuth2 client credentials, Helix,
EventSub webhooks, Kick's public API and RSA-signed webhooks, a WebSub hub and the YouTube
Data API subset) so the product runs against them unchanged; the control API under
`/_sandbox/platforms` makes a creator go live, change title, end a stream, revoke a
subscription or redeliver the last webhook.
"""

from __future__ import annotations

import asyncio
import typing

from aiohttp import web

from townsquare.sandbox.control.common import ControlError, read_json
from townsquare.sandbox.platforms.common import Deliverer
from townsquare.sandbox.platforms.kick import LoopbackKick
from townsquare.sandbox.platforms.twitch import LoopbackTwitch
from townsquare.sandbox.platforms.youtube import LoopbackYouTube, channel_id_of

if typing.TYPE_CHECKING:
    from townsquare.sandbox.platforms.common import Delivery, LoopbackCreator

__all__ = ["PLATFORMS_CONTROL", "LoopbackPlatforms"]

PLATFORMS_CONTROL: typing.Final = "/_sandbox/platforms"


def _text(body: dict[str, typing.Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or not value or len(value) > 300:
        raise ControlError(400, f"{key} must be a non-empty string of at most 300 characters")
    return value


DEMO_LIVE_SECONDS: typing.Final = 90.0
DEMO_PAUSE_SECONDS: typing.Final = 60.0


class LoopbackPlatforms:
    def __init__(self) -> None:
        self.deliverer = Deliverer()
        self.twitch = LoopbackTwitch(self.deliverer)
        self.kick = LoopbackKick(self.deliverer)
        self.youtube = LoopbackYouTube(self.deliverer)
        self.demo = False
        """Whether the demo runs (the sandbox's crowd is on): the product then sets up feeds
        for the Streamer members, who go live in turn (:meth:`start_demo`)."""

    def start_demo(self) -> None:
        """The demo creators go live in turn, forever: dorian on Twitch, then elsie on Kick
        and YouTube, each for DEMO_LIVE_SECONDS with DEMO_PAUSE_SECONDS between."""
        self.demo = True
        self.deliverer.spawn(self._demo())

    async def _demo(self) -> None:
        round_number = 0
        while True:
            round_number += 1
            await asyncio.sleep(DEMO_PAUSE_SECONDS)
            if round_number % 2:
                dorian = self.twitch.creators["dorian"]
                self.twitch.go_live(dorian, f"Demo stream #{round_number}", "Just Chatting", 42)
                await asyncio.sleep(DEMO_LIVE_SECONDS)
                self.twitch.end(dorian)
            else:
                elsie = self.kick.creators["elsie"]
                self.kick.go_live(elsie, f"Demo stream #{round_number}", "IRL", 17)
                channel = channel_id_of("elsie")
                video_id, _ = self.youtube.publish(channel, title="Demo live", live=True)
                await asyncio.sleep(DEMO_LIVE_SECONDS)
                self.kick.end(elsie)
                self.youtube.end(video_id)

    def routes(self) -> list[web.RouteDef]:
        control = PLATFORMS_CONTROL
        return [
            *self.twitch.routes(),
            *self.kick.routes(),
            *self.youtube.routes(),
            web.get(control, self.overview),
            web.post(control + "/{platform}/creators", self.add_creator),
            web.post(control + "/{platform}/live", self.go_live),
            web.post(control + "/{platform}/title", self.change_title),
            web.post(control + "/{platform}/end", self.end),
            web.post(control + "/{platform}/redeliver", self.redeliver),
            web.post(control + "/twitch/revoke", self.revoke),
            web.post(control + "/kick/webhook", self.kick_webhook),
            web.post(control + "/youtube/upload", self.youtube_upload),
            web.post(control + "/youtube/upcoming", self.youtube_upcoming),
            web.post(control + "/youtube/start", self.youtube_start),
        ]

    async def close(self) -> None:
        await self.deliverer.close()

    def _creator(self, platform: str, login: str) -> LoopbackCreator:
        creators = {"twitch": self.twitch.creators, "kick": self.kick.creators}.get(platform)
        if creators is None:
            raise ControlError(404, f"no loopback platform {platform!r} with creators")
        creator = creators.get(login)
        if creator is None:
            raise ControlError(404, f"{platform} has no creator {login!r}")
        return creator

    def _channel(self, login: str) -> str:
        channel = channel_id_of(login)
        if channel not in self.youtube.channels:
            raise ControlError(404, f"youtube has no creator {login!r}")
        return channel

    @staticmethod
    def _sent(deliveries: list[Delivery], **extra: typing.Any) -> web.Response:
        return web.json_response({"deliveries": len(deliveries), **extra})

    async def overview(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "demo": self.demo,
                "twitch": {
                    "subscriptions": [s.body() for s in self.twitch.subscriptions.values()],
                    "tokens_issued": self.twitch.tokens.issued,
                },
                "kick": {
                    "subscriptions": len(self.kick.subscriptions),
                    "webhook_url": self.kick.webhook_url,
                },
                "youtube": {
                    "leases": {
                        channel: [lease.callback for lease in leases.values()]
                        for channel, leases in self.youtube.leases.items()
                    },
                    "verifications": self.youtube.verifications,
                },
                "deliveries": [
                    {"url": d.url, "statuses": d.statuses} for d in self.deliverer.sent[-50:]
                ],
            }
        )

    async def add_creator(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        login, platform = _text(body, "login").lower(), request.match_info["platform"]
        if platform == "youtube":
            return web.json_response({"login": login, "id": self.youtube.add_creator(login)})
        adder = {"twitch": self.twitch.add_creator, "kick": self.kick.add_creator}.get(platform)
        if adder is None:
            raise ControlError(404, f"no loopback platform {platform!r}")
        return web.json_response({"login": login, "id": adder(login).user_id})

    async def go_live(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        platform, title = request.match_info["platform"], _text(body, "title", "Live now")
        category = _text(body, "category", "Just Chatting")
        viewers = body.get("viewers", 42)
        if not isinstance(viewers, int) or viewers < 0:
            raise ControlError(400, "viewers must be a non-negative integer")
        if platform == "youtube":
            video_id, sent = self.youtube.publish(
                self._channel(_text(body, "login")), title=title, live=True
            )
            return self._sent(sent, stream_id=video_id)
        creator = self._creator(platform, _text(body, "login"))
        live = self.twitch if platform == "twitch" else self.kick
        sent = live.go_live(creator, title, category, viewers)
        return self._sent(sent, stream_id=creator.live_id)

    async def change_title(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        platform = request.match_info["platform"]
        creator = self._creator(platform, _text(body, "login"))
        creator.title = _text(body, "title")
        viewers = body.get("viewers")
        if isinstance(viewers, int) and viewers >= 0:
            creator.viewers = viewers
        return web.json_response({"title": creator.title})

    async def end(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        platform = request.match_info["platform"]
        if platform == "youtube":
            video_id = self.youtube.live_video(self._channel(_text(body, "login")))
            if video_id is None:
                raise ControlError(409, "that channel is not live")
            return self._sent(self.youtube.end(video_id))
        creator = self._creator(platform, _text(body, "login"))
        if creator.started_at is None:
            raise ControlError(409, f"{creator.login} is not live")
        return self._sent(
            self.twitch.end(creator) if platform == "twitch" else self.kick.end(creator)
        )

    async def redeliver(self, request: web.Request) -> web.Response:
        """Send the platform's last delivery again, byte for byte (a retry or a duplicate)."""
        platform = request.match_info["platform"]
        marker = {"twitch": "Twitch-Eventsub", "kick": "Kick-Event", "youtube": "X-Hub"}.get(
            platform
        )
        last = next(
            (
                d
                for d in reversed(self.deliverer.sent)
                if any(h.startswith(marker or "-") for h in d.headers)
            ),
            None,
        )
        if last is None:
            raise ControlError(409, f"{platform} has delivered nothing yet")
        return self._sent([self.deliverer.send(last.url, last.headers, last.body, retry=False)])

    async def revoke(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        creator = self._creator("twitch", _text(body, "login"))
        reason = _text(body, "reason", "notification_failures_exceeded")
        return self._sent(self.twitch.revoke(creator, reason))

    async def kick_webhook(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        self.kick.webhook_url = _text(body, "url")
        return web.json_response({"webhook_url": self.kick.webhook_url})

    async def youtube_upload(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        channel = self._channel(_text(body, "login"))
        video_id, sent = self.youtube.publish(
            channel, title=_text(body, "title", "New video"), live=False
        )
        return self._sent(sent, video_id=video_id)

    async def youtube_upcoming(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        channel = self._channel(_text(body, "login"))
        video_id, sent = self.youtube.publish(
            channel, title=_text(body, "title", "Starting soon"), live=False, upcoming=True
        )
        return self._sent(sent, video_id=video_id)

    async def youtube_start(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        video_id = _text(body, "video_id")
        if video_id not in self.youtube.videos:
            raise ControlError(404, "no such video")
        self.youtube.start(video_id)
        return web.json_response({"video_id": video_id})
