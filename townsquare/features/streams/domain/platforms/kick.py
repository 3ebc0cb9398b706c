"""Kick's public API: channels by slug or broadcaster id, the webhook public key, event
subscriptions (`livestream.status.updated`), app tokens from `id.kick.com/oauth/token`."""

from __future__ import annotations

import datetime
import typing

from townsquare.features.streams.domain.platforms.base import CreatorInfo, PlatformClient

__all__ = ["EVENT_NAME", "KickChannel", "KickClient"]

EVENT_NAME: typing.Final = "livestream.status.updated"


class KickChannel(typing.NamedTuple):
    """A channel and its live state, from `GET /public/v1/channels`."""

    user_id: str
    slug: str
    live: bool
    title: str
    category: str
    viewers: int | None
    started_at: datetime.datetime | None
    thumbnail_url: str


class KickClient(PlatformClient):
    token_path = "/oauth/token"  # noqa: S105 - a URL path

    async def lookup(self, slug: str) -> CreatorInfo | None:
        channels = await self._channels([("slug", slug.lower())])
        if not channels:
            return None
        channel = channels[0]
        return CreatorInfo(channel.user_id, channel.slug, channel.slug)

    async def channels(self, user_ids: typing.Sequence[str]) -> list[KickChannel]:
        """The channels of these broadcasters (at most 50), with their live state."""
        if not user_ids:
            return []
        return await self._channels([("broadcaster_user_id", uid) for uid in user_ids[:50]])

    async def _channels(self, params: list[tuple[str, str]]) -> list[KickChannel]:
        status, body = await self.call("GET", "/public/v1/channels", params=params)
        if status in {400, 404}:
            return []
        if status != 200:
            raise self.fail(status, "GET /public/v1/channels")
        found = []
        for item in body.get("data") or []:
            stream = item.get("stream") or {}
            started = stream.get("start_time")
            started_at = None
            if started and not str(started).startswith("0001-"):
                started_at = datetime.datetime.fromisoformat(str(started))
            found.append(
                KickChannel(
                    user_id=str(item["broadcaster_user_id"]),
                    slug=str(item["slug"]),
                    live=bool(stream.get("is_live")),
                    title=str(item.get("stream_title") or ""),
                    category=str((item.get("category") or {}).get("name") or ""),
                    viewers=stream.get("viewer_count"),
                    started_at=started_at,
                    thumbnail_url=str(stream.get("thumbnail") or ""),
                )
            )
        return found

    async def public_key(self) -> str:
        """The PEM public key Kick signs webhooks with."""
        status, body = await self.call("GET", "/public/v1/public-key", authenticated=False)
        if status != 200:
            raise self.fail(status, "GET /public/v1/public-key")
        return str(body["data"]["public_key"])

    async def subscribe(self, user_id: str) -> list[str]:
        """`livestream.status.updated` webhooks for `user_id`; the subscription ids."""
        status, body = await self.call(
            "POST",
            "/public/v1/events/subscriptions",
            json={
                "broadcaster_user_id": int(user_id),
                "events": [{"name": EVENT_NAME, "version": 1}],
                "method": "webhook",
            },
        )
        if status not in {200, 201}:
            raise self.fail(status, "POST /public/v1/events/subscriptions")
        ids = []
        for item in body.get("data") or []:
            if item.get("error"):
                raise self.fail(status, f"subscription refused: {item['error']}")
            ids.append(str(item["subscription_id"]))
        return ids

    async def subscription_ids(self) -> set[str]:
        """The ids of the app's event subscriptions that Kick still has."""
        status, body = await self.call("GET", "/public/v1/events/subscriptions")
        if status != 200:
            raise self.fail(status, "GET /public/v1/events/subscriptions")
        return {str(item["id"]) for item in body.get("data") or []}

    async def unsubscribe(self, subscription_ids: typing.Iterable[str]) -> None:
        ids = [("id", sub_id) for sub_id in subscription_ids]
        if not ids:
            return
        status, _ = await self.call("DELETE", "/public/v1/events/subscriptions", params=ids)
        if status not in {200, 204, 404}:
            raise self.fail(status, "DELETE /public/v1/events/subscriptions")
