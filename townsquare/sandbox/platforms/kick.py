"""A loopback Kick: the OAuth2 token endpoint, the public API's channels, public key and event
subscriptions, and `livestream.status.updated` webhooks to the app's webhook URL, signed as
Kick signs them (RSA PKCS#1 v1.5 SHA-256 over `<message id>.<timestamp>.<body>`, base64).

Kick sends every subscription's events to the one webhook URL of the app (set in Kick's app
settings; here with the control API). Routes under `/kick/id` and `/kick/api`.
"""

from __future__ import annotations

import base64
import dataclasses
import secrets
import typing
import uuid

import orjson
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from townsquare.sandbox.platforms.common import (
    DEFAULT_CREATORS,
    Deliverer,
    Delivery,
    LoopbackCreator,
    TokenIssuer,
    iso,
    json_error,
    utc_now,
)

__all__ = ["LoopbackKick"]

_CROCKFORD: typing.Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
EVENT: typing.Final = "livestream.status.updated"


def _ulid() -> str:
    return "".join(secrets.choice(_CROCKFORD) for _ in range(26))


@dataclasses.dataclass(slots=True)
class _Subscription:
    id: str
    user_id: str


class LoopbackKick:
    def __init__(self, deliverer: Deliverer) -> None:
        self.deliverer = deliverer
        self.tokens = TokenIssuer()
        self.creators: dict[str, LoopbackCreator] = {}
        self.subscriptions: dict[str, _Subscription] = {}
        self.webhook_url: str | None = None
        self._key: rsa.RSAPrivateKey | None = None
        for login in DEFAULT_CREATORS:
            self.add_creator(login)

    @property
    def key(self) -> rsa.RSAPrivateKey:
        if self._key is None:  # made on first use: a 2048-bit key takes a moment
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self._key

    def add_creator(self, login: str) -> LoopbackCreator:
        creator = self.creators.get(login) or LoopbackCreator(login)
        self.creators[login] = creator
        return creator

    def routes(self) -> list[web.RouteDef]:
        api = "/kick/api/public/v1"
        return [
            web.post("/kick/id/oauth/token", self.tokens.issue),
            web.get(api + "/public-key", self.public_key),
            web.get(api + "/channels", self.tokens.guarded(self.channels)),
            web.post(api + "/events/subscriptions", self.tokens.guarded(self.subscribe)),
            web.get(api + "/events/subscriptions", self.tokens.guarded(self.list_subscriptions)),
            web.delete(api + "/events/subscriptions", self.tokens.guarded(self.unsubscribe)),
        ]

    async def public_key(self, _: web.Request) -> web.Response:
        pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return web.json_response({"data": {"public_key": pem.decode()}, "message": "OK"})

    async def channels(self, request: web.Request) -> web.Response:
        slugs = set(request.query.getall("slug", []))
        ids = set(request.query.getall("broadcaster_user_id", []))
        found = [c for c in self.creators.values() if c.login in slugs or c.user_id in ids]
        return web.json_response({"data": [self._channel(c) for c in found], "message": "OK"})

    def _channel(self, creator: LoopbackCreator) -> dict[str, typing.Any]:
        live = creator.started_at is not None
        return {
            "banner_picture": "",
            "broadcaster_user_id": int(creator.user_id),
            "category": {"id": 15, "name": creator.category, "thumbnail": ""},
            "channel_description": "",
            "slug": creator.login,
            "stream": {
                "is_live": live,
                "is_mature": False,
                "key": "",
                "language": "en",
                "start_time": iso(creator.started_at)
                if live and creator.started_at
                else "0001-01-01T00:00:00Z",
                "thumbnail": "",
                "url": "",
                "viewer_count": creator.viewers if live else 0,
            },
            "stream_title": creator.title,
        }

    async def subscribe(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            user_id = str(int(body["broadcaster_user_id"]))
            events = body["events"]
        except (ValueError, KeyError, TypeError):
            return json_error(400, "malformed subscription request")
        if body.get("method") != "webhook":
            return json_error(400, "method must be webhook")
        data = []
        for event in events:
            if event.get("name") != EVENT:
                data.append({"error": "unsupported event", "name": event.get("name"), "version": 1})
                continue
            subscription = _Subscription(_ulid(), user_id)
            self.subscriptions[subscription.id] = subscription
            data.append(
                {"error": "", "name": EVENT, "subscription_id": subscription.id, "version": 1}
            )
        return web.json_response({"data": data, "message": "OK"})

    async def list_subscriptions(self, _: web.Request) -> web.Response:
        data = [
            {
                "id": s.id,
                "broadcaster_user_id": int(s.user_id),
                "event": EVENT,
                "version": 1,
                "method": "webhook",
            }
            for s in self.subscriptions.values()
        ]
        return web.json_response({"data": data, "message": "OK"})

    async def unsubscribe(self, request: web.Request) -> web.Response:
        for subscription_id in request.query.getall("id", []):
            self.subscriptions.pop(subscription_id, None)
        return web.Response(status=204)

    def status_changed(self, creator: LoopbackCreator, *, ended: bool) -> list[Delivery]:
        """Send `livestream.status.updated` for `creator` to the webhook URL."""
        if self.webhook_url is None:
            return []
        started = creator.started_at or utc_now()
        body = orjson.dumps(
            {
                "broadcaster": {
                    "is_anonymous": False,
                    "user_id": int(creator.user_id),
                    "username": creator.display_name,
                    "is_verified": False,
                    "profile_picture": "",
                    "channel_slug": creator.login,
                },
                "is_live": not ended,
                "title": creator.title,
                "started_at": iso(started),
                "ended_at": iso(utc_now()) if ended else None,
            }
        )
        sent = []
        for subscription in self.subscriptions.values():
            if subscription.user_id != creator.user_id:
                continue
            message_id, timestamp = _ulid(), iso(utc_now())
            signed = message_id.encode() + b"." + timestamp.encode() + b"." + body
            signature = self.key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
            headers = {
                "Content-Type": "application/json",
                "Kick-Event-Message-Id": message_id,
                "Kick-Event-Subscription-Id": subscription.id,
                "Kick-Event-Signature": base64.b64encode(signature).decode(),
                "Kick-Event-Message-Timestamp": timestamp,
                "Kick-Event-Type": EVENT,
                "Kick-Event-Version": "1",
            }
            # Kick does not retry a failed delivery.
            sent.append(self.deliverer.send(self.webhook_url, headers, body, retry=False))
        return sent

    def go_live(
        self, creator: LoopbackCreator, title: str, category: str, viewers: int
    ) -> list[Delivery]:
        creator.title, creator.category, creator.viewers = title, category, viewers
        creator.started_at = utc_now().replace(microsecond=0)
        creator.live_id = uuid.uuid4().hex
        return self.status_changed(creator, ended=False)

    def end(self, creator: LoopbackCreator) -> list[Delivery]:
        sent = self.status_changed(creator, ended=True)
        creator.started_at, creator.live_id = None, None
        return sent
