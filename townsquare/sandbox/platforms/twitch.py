"""A loopback Twitch: the OAuth2 token endpoint, Helix users, streams and EventSub
subscriptions, and EventSub webhook deliveries to the registered callbacks, signed as Twitch
signs them (`sha256=` HMAC of message id + timestamp + body with the subscription's secret),
with the callback verification, retries and revocations.

Routes under `/twitch/id` (Twitch's `id.twitch.tv`) and `/twitch/helix` (`api.twitch.tv/helix`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import time
import typing
import uuid

import orjson
from aiohttp import web

from townsquare.sandbox.platforms.common import (
    DEFAULT_CREATORS,
    Deliverer,
    Delivery,
    Handler,
    LoopbackCreator,
    TokenIssuer,
    iso,
    json_error,
    utc_now,
)

__all__ = ["LoopbackTwitch"]

_RATE_LIMIT: typing.Final = 800


@dataclasses.dataclass(slots=True)
class _Subscription:
    id: str
    type: str
    user_id: str
    callback: str
    secret: str
    created_at: str
    status: str = "webhook_callback_verification_pending"

    def body(self) -> dict[str, typing.Any]:
        return {
            "id": self.id,
            "status": self.status,
            "type": self.type,
            "version": "1",
            "cost": 0,
            "condition": {"broadcaster_user_id": self.user_id},
            "transport": {"method": "webhook", "callback": self.callback},
            "created_at": self.created_at,
        }


class LoopbackTwitch:
    def __init__(self, deliverer: Deliverer) -> None:
        self.deliverer = deliverer
        self.tokens = TokenIssuer()
        self.creators: dict[str, LoopbackCreator] = {}
        self.subscriptions: dict[str, _Subscription] = {}
        self.requests = 0
        self.window_start = time.time()
        for login in DEFAULT_CREATORS:
            self.add_creator(login)

    def add_creator(self, login: str) -> LoopbackCreator:
        creator = self.creators.get(login) or LoopbackCreator(login)
        self.creators[login] = creator
        return creator

    def by_id(self, user_id: str) -> LoopbackCreator | None:
        return next((c for c in self.creators.values() if c.user_id == user_id), None)

    def routes(self) -> list[web.RouteDef]:
        helix = "/twitch/helix"
        return [
            web.post("/twitch/id/oauth2/token", self.tokens.issue),
            web.get(helix + "/users", self._helix(self.users)),
            web.get(helix + "/streams", self._helix(self.streams)),
            web.post(helix + "/eventsub/subscriptions", self._helix(self.create_subscription)),
            web.get(helix + "/eventsub/subscriptions", self._helix(self.list_subscriptions)),
            web.delete(helix + "/eventsub/subscriptions", self._helix(self.delete_subscription)),
        ]

    def _helix(self, handler: Handler) -> Handler:
        """Client-Id and an app token on every call, and Helix's rate-limit headers."""

        async def limited(request: web.Request) -> web.Response:
            now = time.time()
            if now - self.window_start >= 60:
                self.window_start, self.requests = now, 0
            self.requests += 1
            response = (
                json_error(429, "Too Many Requests")
                if self.requests > _RATE_LIMIT
                else await handler(request)
            )
            response.headers.update(
                {
                    "Ratelimit-Limit": str(_RATE_LIMIT),
                    "Ratelimit-Remaining": str(max(0, _RATE_LIMIT - self.requests)),
                    "Ratelimit-Reset": str(int(self.window_start + 60)),
                }
            )
            return response

        return self.tokens.guarded(limited, also=lambda r: bool(r.headers.get("Client-Id")))

    async def users(self, request: web.Request) -> web.Response:
        logins = request.query.getall("login", [])
        found = [self.creators[login] for login in logins if login in self.creators]
        return web.json_response(
            {
                "data": [
                    {
                        "id": c.user_id,
                        "login": c.login,
                        "display_name": c.display_name,
                        "type": "",
                        "broadcaster_type": "",
                        "description": "",
                        "profile_image_url": "",
                        "offline_image_url": "",
                        "view_count": 0,
                        "created_at": "2020-01-01T00:00:00Z",
                    }
                    for c in found
                ]
            }
        )

    async def streams(self, request: web.Request) -> web.Response:
        wanted = set(request.query.getall("user_id", []))
        live = [c for c in self.creators.values() if c.live_id and c.user_id in wanted]
        return web.json_response(
            {
                "data": [
                    {
                        "id": c.live_id,
                        "user_id": c.user_id,
                        "user_login": c.login,
                        "user_name": c.display_name,
                        "game_id": "509658",
                        "game_name": c.category,
                        "type": "live",
                        "title": c.title,
                        "tags": [],
                        "viewer_count": c.viewers,
                        "started_at": iso(c.started_at or utc_now()),
                        "language": "en",
                        "thumbnail_url": f"https://static-cdn.jtvnw.net/previews-ttv/live_user_{c.login}-{{width}}x{{height}}.jpg",
                        "tag_ids": [],
                        "is_mature": False,
                    }
                    for c in live
                ],
                "pagination": {},
            }
        )

    def _listing(self, subscriptions: list[_Subscription]) -> dict[str, typing.Any]:
        return {
            "data": [s.body() for s in subscriptions],
            "total": len(self.subscriptions),
            "total_cost": 0,
            "max_total_cost": 10_000,
        }

    async def create_subscription(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            kind, version = body["type"], body["version"]
            user_id = str(body["condition"]["broadcaster_user_id"])
            transport = body["transport"]
            callback, secret = transport["callback"], transport["secret"]
        except (ValueError, KeyError, TypeError):
            return json_error(400, "malformed subscription request")
        if kind not in {"stream.online", "stream.offline"} or version != "1":
            return json_error(400, "unsupported subscription type or version")
        if transport.get("method") != "webhook" or not 10 <= len(secret) <= 100:
            return json_error(400, "the secret must be 10 to 100 characters")
        if not str(callback).startswith(("https://", "http://127.0.0.1", "http://localhost")):
            return json_error(400, "the callback must be https")
        for existing in list(self.subscriptions.values()):
            if (existing.type, existing.user_id, existing.callback) != (kind, user_id, callback):
                continue
            if existing.status == "webhook_callback_verification_failed":
                del self.subscriptions[existing.id]  # a failed one does not block a new one
            else:
                return json_error(409, "subscription already exists")
        subscription = _Subscription(
            str(uuid.uuid4()), kind, user_id, callback, secret, iso(utc_now())
        )
        self.subscriptions[subscription.id] = subscription
        self._verify(subscription)
        return web.json_response(self._listing([subscription]), status=202)

    async def list_subscriptions(self, request: web.Request) -> web.Response:
        user_id = request.query.get("user_id")
        chosen = [s for s in self.subscriptions.values() if user_id in {None, s.user_id}]
        return web.json_response(self._listing(chosen) | {"pagination": {}})

    async def delete_subscription(self, request: web.Request) -> web.Response:
        if self.subscriptions.pop(request.query.get("id", ""), None) is None:
            return json_error(404, "subscription not found")
        return web.Response(status=204)

    def _headers(self, subscription: _Subscription, kind: str, body: bytes) -> dict[str, str]:
        message_id, timestamp = str(uuid.uuid4()), iso(utc_now())
        signed = message_id.encode() + timestamp.encode() + body
        signature = hmac.new(subscription.secret.encode(), signed, hashlib.sha256).hexdigest()
        return {
            "Content-Type": "application/json",
            "Twitch-Eventsub-Message-Id": message_id,
            "Twitch-Eventsub-Message-Retry": "0",
            "Twitch-Eventsub-Message-Type": kind,
            "Twitch-Eventsub-Message-Signature": f"sha256={signature}",
            "Twitch-Eventsub-Message-Timestamp": timestamp,
            "Twitch-Eventsub-Subscription-Type": subscription.type,
            "Twitch-Eventsub-Subscription-Version": "1",
        }

    def _verify(self, subscription: _Subscription) -> None:
        """Twitch's `webhook_callback_verification`: the callback must echo the challenge."""

        async def verify() -> None:
            challenge = uuid.uuid4().hex
            body = orjson.dumps({"challenge": challenge, "subscription": subscription.body()})
            headers = self._headers(subscription, "webhook_callback_verification", body)
            status, text = await self.deliverer.post(subscription.callback, headers, body)
            ok = status == 200 and text == challenge
            subscription.status = "enabled" if ok else "webhook_callback_verification_failed"

        self.deliverer.spawn(verify())

    def notify(
        self, creator: LoopbackCreator, kind: str, event: dict[str, typing.Any]
    ) -> list[Delivery]:
        """Deliver `event` to every enabled subscription of `kind` for `creator`."""
        sent = []
        for subscription in list(self.subscriptions.values()):
            if (subscription.type, subscription.user_id, subscription.status) != (
                kind,
                creator.user_id,
                "enabled",
            ):
                continue
            body = orjson.dumps({"subscription": subscription.body(), "event": event})
            headers = self._headers(subscription, "notification", body)
            sent.append(self.deliverer.send(subscription.callback, headers, body))
        return sent

    def go_live(
        self, creator: LoopbackCreator, title: str, category: str, viewers: int
    ) -> list[Delivery]:
        creator.live_id = str(int(time.time() * 1000))
        creator.title, creator.category, creator.viewers = title, category, viewers
        creator.started_at = utc_now()
        return self.notify(
            creator,
            "stream.online",
            {
                "id": creator.live_id,
                "broadcaster_user_id": creator.user_id,
                "broadcaster_user_login": creator.login,
                "broadcaster_user_name": creator.display_name,
                "type": "live",
                "started_at": iso(creator.started_at),
            },
        )

    def end(self, creator: LoopbackCreator) -> list[Delivery]:
        creator.live_id, creator.started_at = None, None
        return self.notify(
            creator,
            "stream.offline",
            {
                "broadcaster_user_id": creator.user_id,
                "broadcaster_user_login": creator.login,
                "broadcaster_user_name": creator.display_name,
            },
        )

    def revoke(self, creator: LoopbackCreator, reason: str) -> list[Delivery]:
        """Revoke every subscription of `creator` with `reason`, as Twitch does."""
        sent = []
        for subscription in list(self.subscriptions.values()):
            if subscription.user_id != creator.user_id:
                continue
            del self.subscriptions[subscription.id]
            subscription.status = reason
            body = orjson.dumps({"subscription": subscription.body()})
            headers = self._headers(subscription, "revocation", body)
            sent.append(self.deliverer.send(subscription.callback, headers, body, retry=False))
        return sent
