"""Twitch Helix: users by login, live streams, EventSub webhook subscriptions.

Every Helix request carries `Client-Id` and the app token (`Authorization: Bearer`). EventSub
subscriptions for `stream.online` and `stream.offline` (version 1) name our callback and our
secret; Twitch then sends the callback a `webhook_callback_verification` to answer.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing

from townsquare.features.streams.domain.platforms.base import CreatorInfo, PlatformClient

__all__ = ["EVENT_TYPES", "LiveStream", "TwitchClient"]

EVENT_TYPES: typing.Final = ("stream.online", "stream.offline")
_KEPT_STATES: typing.Final = frozenset({"enabled", "webhook_callback_verification_pending"})
"""A subscription in these states is ours and working (or about to): not asked again."""


@dataclasses.dataclass(frozen=True, slots=True)
class LiveStream:
    """A stream that is live now, as Helix `GET /streams` describes it."""

    stream_id: str
    user_id: str
    title: str
    category: str
    viewers: int
    started_at: datetime.datetime | None
    thumbnail_url: str


class TwitchClient(PlatformClient):
    def auth_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Client-Id": self.access.client_id}

    async def lookup(self, login: str) -> CreatorInfo | None:
        """The user with this login; None when Twitch has none."""
        status, body = await self.call("GET", "/users", params={"login": login.lower()})
        if status == 400:
            return None  # a login Twitch cannot even parse
        if status != 200:
            raise self.fail(status, "GET /users")
        users = body.get("data") or []
        if not users:
            return None
        user = users[0]
        return CreatorInfo(str(user["id"]), str(user["login"]), str(user["display_name"]))

    async def live_streams(self, user_ids: typing.Sequence[str]) -> dict[str, LiveStream]:
        """The live streams of these users (at most 100), by user id; offline users absent."""
        if not user_ids:
            return {}
        params = [("user_id", user_id) for user_id in user_ids[:100]]
        params.append(("first", "100"))
        status, body = await self.call("GET", "/streams", params=params)
        if status != 200:
            raise self.fail(status, "GET /streams")
        found = {}
        for item in body.get("data") or []:
            started = item.get("started_at")
            found[str(item["user_id"])] = LiveStream(
                stream_id=str(item["id"]),
                user_id=str(item["user_id"]),
                title=str(item.get("title") or ""),
                category=str(item.get("game_name") or ""),
                viewers=int(item.get("viewer_count") or 0),
                started_at=datetime.datetime.fromisoformat(started) if started else None,
                thumbnail_url=str(item.get("thumbnail_url") or "")
                .replace("{width}", "1280")
                .replace("{height}", "720"),
            )
        return found

    async def subscribe(self, user_id: str, callback: str) -> list[str]:
        """EventSub `stream.online` and `stream.offline` for `user_id`; their ids.

        A subscription of ours that is enabled or awaiting its verification is kept (asking
        twice, say after a crash between the request and our write, leaves one); one whose
        verification failed (our service was not answering yet) is deleted and asked again.
        """
        existing = await self.subscriptions_of(user_id)
        ids = []
        for event_type in EVENT_TYPES:
            found = existing.get(event_type)
            if found is not None and found[1] in _KEPT_STATES:
                ids.append(found[0])
                continue
            if found is not None:
                await self.unsubscribe([found[0]])
            status, body = await self.call(
                "POST",
                "/eventsub/subscriptions",
                json={
                    "type": event_type,
                    "version": "1",
                    "condition": {"broadcaster_user_id": user_id},
                    "transport": {
                        "method": "webhook",
                        "callback": callback,
                        "secret": self.access.webhook_secret.get_secret_value(),
                    },
                },
            )
            if status == 409:  # made meanwhile by another worker
                ids.append((await self.subscriptions_of(user_id))[event_type][0])
                continue
            if status != 202:
                raise self.fail(status, f"POST /eventsub/subscriptions ({event_type})")
            ids.append(str(body["data"][0]["id"]))
        return ids

    async def subscriptions_of(self, user_id: str) -> dict[str, tuple[str, str]]:
        """Our subscriptions for `user_id`: type -> (id, status)."""
        status, body = await self.call(
            "GET", "/eventsub/subscriptions", params={"user_id": user_id}
        )
        if status != 200:
            raise self.fail(status, "GET /eventsub/subscriptions")
        return {
            str(item["type"]): (str(item["id"]), str(item["status"]))
            for item in body.get("data") or []
        }

    async def unsubscribe(self, subscription_ids: typing.Iterable[str]) -> None:
        """Delete these subscriptions; one already gone is fine."""
        for subscription_id in subscription_ids:
            status, _ = await self.call(
                "DELETE", "/eventsub/subscriptions", params={"id": subscription_id}
            )
            if status not in {204, 404}:
                raise self.fail(status, "DELETE /eventsub/subscriptions")
