"""Kick and YouTube end to end through their loopback platforms: Kick's RSA-signed webhooks and
its polling seeing the same stream, YouTube's WebSub pushes told apart by the Data API
(live, upload), and the WebSub lease renewed before it ends."""

from __future__ import annotations

import asyncio
import datetime
import typing

from tests.support.sandbox import control
from tests.support.streams import WITHIN
from tests.support.waiting import wait_until
from townsquare.features.streams.domain.jobs import POLL_TASK, RENEW_TASK
from townsquare.features.streams.domain.models import Creator, Feed, SubscriptionState
from townsquare.features.streams.tasks.polls import DEMO_CLAIM_SECONDS

if typing.TYPE_CHECKING:
    from tests.support.streams import Streams
    from townsquare.sandbox.world.models import Message


def _pings(card: Message, role_id: int) -> None:
    """The card mentions the feed's role, and only that role may be pinged."""
    assert card.content.startswith(f"<@&{role_id}> ")
    assert card.mention_role_ids == [role_id]
    assert card.allowed_mentions == {"parse": [], "roles": [str(role_id)]}


def _ended(streams: Streams, channel: str) -> bool:
    cards = streams.cards(channel)
    return bool(cards) and cards[-1].embeds[0]["footer"]["text"] == "Stream ended"


async def test_kick_webhook_and_poll_see_one_stream(streams: Streams) -> None:
    await streams.control("/kick/webhook", {"url": f"{streams.url}/webhooks/kick"})
    await streams.add_feed("kick", "elsie", "media", role="Streamer")
    kick = streams.sandbox.platforms.kick
    await wait_until(lambda: len(kick.subscriptions) == 1, within=5.0, what="subscribed")

    await streams.control("/kick/live", {"login": "elsie", "title": "Kick stream"})
    [card] = await streams.wait_cards("media", 1, within=2.0)
    _pings(card, streams.role("Streamer"))
    assert card.embeds[0]["author"]["name"].endswith(" is live on Kick")
    await streams.confirmed("kick", "elsie")  # its first signed delivery confirmed it

    # The poll covers creators whose webhooks are not confirmed: it sees the same stream.
    await Creator.filter(login="elsie").update(state=SubscriptionState.PENDING)
    await streams.run(POLL_TASK)
    assert len(streams.cards("media")) == 1
    await streams.control("/kick/redeliver")
    await streams.settled()
    assert len(streams.cards("media")) == 1

    await streams.control("/kick/end", {"login": "elsie"})
    await wait_until(lambda: _ended(streams, "media"), within=5.0, what="the card edited")
    assert len(streams.cards("media")) == 1

    # Kick drops a subscription after a day of failed deliveries, silently: the renewal
    # notices, polls the creator meanwhile, and subscribes again.
    kick.subscriptions.clear()
    await streams.run(RENEW_TASK)
    await wait_until(lambda: len(kick.subscriptions) == 1, within=5.0, what="subscribed again")
    creator = await Creator.get(login="elsie")
    assert creator.state is SubscriptionState.PENDING
    assert creator.subscription_ids == list(kick.subscriptions)


async def test_youtube_live_and_uploads_and_lease_renewal(streams: Streams) -> None:
    await streams.add_feed("youtube", "@dorian", "media", role="Streamer")
    await streams.add_feed("youtube", "@dorian", "general", announce_uploads=True)

    await streams.control("/youtube/upload", {"login": "dorian", "title": "A new video"})
    [upload] = await streams.wait_cards("general", 1)
    assert upload.embeds[0]["author"]["name"] == "Dorian posted a video on YouTube"
    await streams.settled()
    assert streams.cards("media") == []  # that feed announces live streams only

    await streams.control("/youtube/live", {"login": "dorian", "title": "Live on YouTube"})
    [live] = await streams.wait_cards("media", 1, within=2.0)
    assert live.embeds[0]["title"] == "Live on YouTube"
    _pings(live, streams.role("Streamer"))
    assert not upload.mention_role_ids  # that feed has no role: nobody pinged
    assert upload.allowed_mentions == {"parse": []}
    await streams.wait_cards("general", 2)
    await streams.control("/youtube/end", {"login": "dorian"})
    await wait_until(lambda: _ended(streams, "media"), within=5.0, what="the card edited")

    # A scheduled stream: nothing until it starts, then the poll of upcoming streams sees it.
    upcoming = await streams.control("/youtube/upcoming", {"login": "dorian", "title": "Soon"})
    await streams.settled()
    assert len(streams.cards("media")) == 1
    await streams.control("/youtube/start", {"video_id": upcoming["video_id"]})
    await streams.run(POLL_TASK)
    await streams.wait_cards("media", 2)
    assert streams.cards("media")[-1].embeds[0]["title"] == "Soon"

    creator = await Creator.get(login="@dorian")
    assert creator.expires_at is not None
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    await Creator.filter(id=creator.id).update(expires_at=soon)
    await streams.run(RENEW_TASK)

    async def renewed() -> bool:
        lease = (await Creator.get(id=creator.id)).expires_at
        return lease is not None and lease > soon + datetime.timedelta(days=3)

    await wait_until(renewed, within=5.0, what="the lease renewed")
    assert not any("lease" in alert for alert in await streams.alerts())  # renewed in time

    # A lease that ran out (the hub was unreachable for a day): an operator alert, once a day
    # whatever the renewals, and a new subscription.
    gone = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
    await Creator.filter(id=creator.id).update(expires_at=gone)
    await streams.run(RENEW_TASK)
    ran_out = "live alerts for youtube @dorian (followed by 2 feed(s)): the subscription's lease"
    assert sum(ran_out in alert for alert in await streams.alerts()) == 1

    async def renewed_again() -> bool:
        lease = (await Creator.get(id=creator.id)).expires_at
        return lease is not None and lease > gone + datetime.timedelta(days=4)

    await wait_until(renewed_again, within=5.0, what="subscribed again")
    await Creator.filter(id=creator.id).update(expires_at=gone)
    await streams.run(RENEW_TASK)
    assert sum(ran_out in alert for alert in await streams.alerts()) == 1


async def test_the_sandbox_demo_sets_up_the_streamer_feeds(streams: Streams) -> None:
    """`make run`: against a sandbox running its demo, the poll sets the Streamer members'
    feeds up once (and the loopback Kick's webhook URL), and their streams post cards."""
    streams.sandbox.platforms.demo = True
    # While a poll sets the demo up, its claim lapses within a minute: a worker SIGKILLed there
    # (the chaos run) held the demo off for an hour. The guilds' list is slowed to see it.
    slow = {"method": "GET", "path": "/api/v10/users/@me/guilds", "delay_ms": 1000, "count": 1}
    await control(streams.http, streams.sandbox.info, "POST", "/faults/rest", slow)
    marker = streams.keyspace.key("streams_demo")
    polled = asyncio.create_task(streams.run(POLL_TASK))
    await wait_until(lambda: streams.redis.exists(marker), within=WITHIN, what="the claim")
    assert 0 < await streams.redis.pttl(marker) <= DEMO_CLAIM_SECONDS * 1000
    await polled
    feeds = await Feed.filter(guild_id=streams.guild_id).prefetch_related("creator")
    assert sorted((f.creator.platform.value, f.creator.login) for f in feeds) == [
        ("kick", "elsie"),
        ("twitch", "dorian"),
        ("youtube", "@elsie"),
    ]
    assert {f.channel_id for f in feeds} == {streams.channel("media")}
    assert streams.sandbox.platforms.kick.webhook_url == f"{streams.url}/webhooks/kick"
    await streams.run(POLL_TASK)  # once only
    assert await Feed.filter(guild_id=streams.guild_id).count() == 3
    await streams.confirmed("twitch", "dorian")
    await streams.control("/twitch/live", {"login": "dorian"})
    await streams.wait_cards("media", 1)


async def test_one_person_live_on_two_platforms_gets_one_card(streams: Streams) -> None:
    """dorian on Twitch and on YouTube, both feeds naming the person: the second stream joins
    the first's card (no second post, no second ping), each end is shown on it in turn."""
    await streams.add_feed("twitch", "dorian", "media", role="Streamer", person="Dorian")
    await streams.add_feed("youtube", "@dorian", "media", role="Streamer", person="dorian")
    await streams.control("/twitch/live", {"login": "dorian", "title": "On Twitch"})
    await streams.wait_cards("media", 1, within=2.0)
    await streams.control("/youtube/live", {"login": "dorian", "title": "On YouTube"})

    def fields() -> dict[str, str]:
        [card] = streams.cards("media")
        return {f["name"]: f["value"] for f in card.embeds[0].get("fields", [])}

    await wait_until(lambda: "YouTube · live" in fields(), within=5.0, what="the card joined")
    [card] = streams.cards("media")
    assert card.embeds[0]["author"]["name"] == "Dorian is live on Twitch and YouTube"
    assert "Twitch · live" in fields()
    route = f"/api/v10/channels/{streams.channel('media')}/messages"
    calls = [c for c in streams.sandbox.rest.calls if c.path.startswith(route)]
    assert [c.method for c in calls] == ["POST", "PATCH"]  # one post (the ping), then an edit
    assert calls[1].body["allowed_mentions"] == {"parse": []}  # the edit pings nobody

    await streams.control("/twitch/end", {"login": "dorian"})
    await wait_until(lambda: "Twitch · ended" in fields(), within=5.0, what="Twitch's end shown")
    assert "YouTube · live" in fields()
    assert streams.cards("media")[0].embeds[0]["author"]["name"] == "Dorian is live on YouTube"
    await streams.control("/youtube/end", {"login": "dorian"})
    await wait_until(lambda: "YouTube · ended" in fields(), within=5.0, what="all ended")
    [card] = streams.cards("media")
    assert card.embeds[0]["footer"]["text"] == "Streams ended"
    assert card.embeds[0]["author"]["name"] == "Dorian was live on Twitch and YouTube"
