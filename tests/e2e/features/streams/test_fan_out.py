"""Fan-out end to end: two guilds following one creator share the creator's one platform
subscription (Twitch EventSub, YouTube WebSub), and each guild gets its own card, pinging its
own role, when the creator goes live."""

from __future__ import annotations

import typing

import pytest

from tests.support.redis_cluster import ON_CLUSTER_TOO
from townsquare.features.streams.domain.models import Creator, Feed
from townsquare.sandbox.platforms.youtube import channel_id_of
from townsquare.sandbox.world import load_scenario

if typing.TYPE_CHECKING:
    from tests.support.streams import Streams
    from townsquare.sandbox.world.models import Message

pytestmark = ON_CLUSTER_TOO

SECOND: typing.Final = "Second Town"


@pytest.fixture
def sandbox_options() -> dict[str, typing.Any]:
    """The demo world with a second guild, a copy of the first under another name (the bot
    is in both, each has its own #media and its own Streamer role)."""
    demo = load_scenario("demo")
    second = demo.guilds[0].model_copy(update={"name": SECOND})
    return {"scenario": demo.model_copy(update={"guilds": [*demo.guilds, second]})}


def _second(streams: Streams) -> int:
    return next(g.id for g in streams.sandbox.world.guilds.values() if g.name == SECOND)


def _pings(card: Message, role_id: int) -> None:
    """The card mentions the role, and only it may be pinged."""
    assert card.content.startswith(f"<@&{role_id}> ")
    assert card.mention_role_ids == [role_id]
    assert card.allowed_mentions == {"parse": [], "roles": [str(role_id)]}


async def test_two_guilds_share_one_subscription_and_get_a_card_each(streams: Streams) -> None:
    first, second = streams.guild_id, _second(streams)
    assert streams.role("Streamer", first) != streams.role("Streamer", second)
    for guild_id in (first, second):
        await streams.add_feed("twitch", "dorian", "media", role="Streamer", guild_id=guild_id)
        await streams.add_feed("youtube", "@dorian", "media", role="Streamer", guild_id=guild_id)
    await streams.settled()

    # One creator row per platform, followed by two feeds each.
    creators = await Creator.all().prefetch_related("feeds")
    assert sorted((c.platform.value, len(c.feeds)) for c in creators) == [
        ("twitch", 2),
        ("youtube", 2),
    ]
    assert {f.guild_id for f in await Feed.all()} == {first, second}  # type: ignore[attr-defined]
    # Twitch: one EventSub subscription per event type (online, offline), not one per guild.
    twitch = streams.sandbox.platforms.twitch
    assert sorted((s.type, s.user_id) for s in twitch.subscriptions.values()) == [
        ("stream.offline", twitch.creators["dorian"].user_id),
        ("stream.online", twitch.creators["dorian"].user_id),
    ]
    # YouTube: the hub was asked (and verified our callback) once, and holds one lease.
    youtube = streams.sandbox.platforms.youtube
    channel = channel_id_of("dorian")
    assert youtube.verifications == [("subscribe", channel, 200)]
    assert list(youtube.leases[channel]) == [f"{streams.url}/webhooks/youtube"]

    await streams.control("/twitch/live", {"login": "dorian", "title": "Twitch, everywhere"})
    for guild_id in (first, second):
        [card] = await streams.wait_cards("media", 1, guild_id=guild_id)
        _pings(card, streams.role("Streamer", guild_id))
        assert card.embeds[0]["title"] == "Twitch, everywhere"
    await streams.control("/youtube/live", {"login": "dorian", "title": "YouTube, everywhere"})
    for guild_id in (first, second):
        await streams.wait_cards("media", 2, guild_id=guild_id)
    await streams.settled()
    for guild_id in (first, second):
        _, youtube_card = streams.cards("media", guild_id)  # one each, no more
        _pings(youtube_card, streams.role("Streamer", guild_id))
        assert youtube_card.embeds[0]["title"] == "YouTube, everywhere"
    assert len(twitch.subscriptions) == 2  # going live asked for nothing more
    assert len(youtube.verifications) == 1
