"""Live alert cards against the sandbox's own streams: every stream the platforms announced to
the bot got exactly one card in #media.

The sandbox's demo streamers go live in turn (dorian on Twitch, elsie on Kick and YouTube).
The driver notes each Twitch and Kick stream while it is live (polled every second; a demo
stream lasts 90 s); YouTube keeps every video. A stream is owed a card when the platform
delivered its start to the bot's webhook and the bot acknowledged it (2xx): a stream that
started before its feed was subscribed was never announced (the demo's feeds are set up by the
first poll), and one whose every delivery failed was given up by the platform, as the real ones
do after their retries. Kick's start is also found by the bot's Kick poll, so a Kick stream
whose webhook was sent is owed a card whatever the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import typing

from tests.chaos.verdict import Check

if typing.TYPE_CHECKING:
    from tests.chaos.system import BotPost, System
    from townsquare.sandbox.platforms.common import Delivery

__all__ = ["SeenStream", "check_every_stream_carded", "watch_streams"]


@dataclasses.dataclass(frozen=True, slots=True)
class SeenStream:
    platform: str
    """As the card names it: Twitch, Kick, YouTube."""
    stream_id: str
    """Twitch's stream id, Kick's live id (the sandbox's), YouTube's video id."""
    title: str
    ended: float | None = None
    """When a YouTube stream ended (epoch seconds), if it did."""


async def watch_streams(system: System, seen: dict[str, SeenStream]) -> None:
    """Note every Twitch and Kick stream while it is live, until cancelled."""
    platforms = system.sandbox.platforms
    while True:
        for name, loopback in (("Twitch", platforms.twitch), ("Kick", platforms.kick)):
            for creator in loopback.creators.values():
                if creator.live_id:
                    seen[creator.live_id] = SeenStream(name, creator.live_id, creator.title)
        await asyncio.sleep(1.0)


def _youtube_streams(system: System, until: float) -> list[SeenStream]:
    """The live videos started before `until` (epoch seconds)."""
    videos = system.sandbox.platforms.youtube.videos.values()
    return [
        SeenStream("YouTube", v.id, v.title, v.ended_at.timestamp() if v.ended_at else None)
        for v in videos
        if v.started_at is not None and v.started_at.timestamp() <= until
    ]


def _announced(stream: SeenStream, deliveries: list[Delivery]) -> tuple[bool, bool]:
    """(whether a start of `stream` was delivered, whether the bot acknowledged one)."""
    sent = acknowledged = False
    for delivery in deliveries:
        if not _announces(stream, delivery):
            continue
        sent = True
        acknowledged |= any(200 <= status < 300 for status in delivery.statuses)
    return sent, acknowledged


def _announces(stream: SeenStream, delivery: Delivery) -> bool:
    headers = delivery.headers
    if stream.platform == "YouTube":  # a push while it was live (its end pushes it again)
        live = stream.ended is None or delivery.sent_at < stream.ended
        return live and f"<yt:videoId>{stream.stream_id}</yt:videoId>" in delivery.body.decode()
    with contextlib.suppress(ValueError):
        body = json.loads(delivery.body)
        if stream.platform == "Twitch":
            return (
                headers.get("Twitch-Eventsub-Subscription-Type") == "stream.online"
                and headers.get("Twitch-Eventsub-Message-Type") == "notification"
                and body.get("event", {}).get("id") == stream.stream_id
            )
        return (
            "Kick-Event-Type" in headers and body.get("is_live") and body["title"] == stream.title
        )
    return False


def _is_card_of(post: BotPost, stream: SeenStream) -> bool:
    if stream.platform == "YouTube":
        return any(stream.stream_id in url for url in post.urls)
    return f"on {stream.platform}: {stream.title}" in post.content


def check_every_stream_carded(
    system: System, seen: dict[str, SeenStream], until: float
) -> list[Check]:
    """`seen`: the Twitch and Kick streams the driver noted; `until`: when the driver stopped
    (epoch seconds), so no stream starting during the drain is owed a card yet."""
    media = next(
        c.id
        for c in system.sandbox.world.guilds[system.guild_id].channels.values()
        if c.name == "media"
    )
    posts = [p for p in system.bot_posts if p.channel_id == media and any(p.urls)]
    deliveries = system.sandbox.platforms.deliverer.sent
    owed, not_announced, given_up, wrong = 0, 0, [], []
    for stream in [*seen.values(), *_youtube_streams(system, until)]:
        sent, acknowledged = _announced(stream, deliveries)
        if not sent:
            not_announced += 1
            continue
        if not acknowledged and stream.platform != "Kick":
            given_up.append(f"{stream.platform} {stream.title}")
            continue
        owed += 1
        cards = sum(1 for post in posts if _is_card_of(post, stream))
        if cards != 1:
            wrong.append(f"{stream.platform} {stream.title!r} ({stream.stream_id}): {cards} cards")
    # Streams seen and none announced: the demo's feeds were never set up (a vacuous pass; a
    # worker SIGKILLed while setting them up once left the guild without feeds for an hour).
    vacuous = owed == 0 and not_announced > 0
    return [
        Check(
            "every live stream announced to the bot got exactly one card",
            not wrong and not vacuous,
            f"{owed} streams announced, {len(posts)} cards; not exactly one: {wrong or 'none'}; "
            f"{not_announced} started before their feed was subscribed; "
            f"every delivery refused: {given_up or 'none'}",
        )
    ]
