"""Twitch end to end: the loopback Twitch's signed EventSub deliveries into the HTTP service,
through the jobs pipeline, to one card in the sandbox's channel, edited when the stream ends."""

from __future__ import annotations

import datetime
import time
import typing

from tests.support.waiting import wait_until
from tests.support.xp import configure
from townsquare.features.streams.domain.jobs import CARD_TASK, POLL_TASK, RENEW_TASK
from townsquare.features.streams.domain.models import (
    Card,
    Creator,
    Feed,
    Stream,
    SubscriptionState,
)

if typing.TYPE_CHECKING:
    from tests.support.streams import Streams


async def test_a_stream_posts_one_card_pinging_the_role_and_its_end_edits_it(
    streams: Streams,
) -> None:
    await streams.add_feed("twitch", "dorian", "media", role="Streamer")
    streamer = streams.role("Streamer")
    started = time.monotonic()
    await streams.control("/twitch/live", {"login": "dorian", "title": "Speedrun night"})
    [card] = await streams.wait_cards("media", 1, within=2.0)
    assert time.monotonic() - started < 2.0
    assert card.content.startswith(f"<@&{streamer}> **Dorian** is live on Twitch")
    assert card.mention_role_ids == [streamer]
    # Only the feed's role may be pinged, whatever the text says (users and @everyone not).
    assert card.allowed_mentions == {"parse": [], "roles": [str(streamer)]}
    [embed] = card.embeds
    assert embed["title"] == "Speedrun night"  # from Helix GET /streams
    assert embed["author"]["name"] == "Dorian is live on Twitch"

    # Twitch redelivers (the same message id): acknowledged, nothing more posted.
    await streams.control("/twitch/redeliver")
    await streams.settled()
    assert len(streams.cards("media")) == 1
    assert streams.sandbox.platforms.deliverer.sent[-1].statuses == [204]

    # The poll reads the viewer count of the open stream, so the end can show the peak.
    await streams.control("/twitch/title", {"login": "dorian", "title": "x", "viewers": 1234})
    await streams.run(POLL_TASK)
    await streams.control("/twitch/end", {"login": "dorian"})

    def ended() -> bool:
        return streams.cards("media")[0].embeds[0]["footer"]["text"] == "Stream ended"

    await wait_until(ended, within=5.0, what="the card edited")
    [card] = streams.cards("media")
    assert card.edited_timestamp is not None
    fields = {field["name"]: field["value"] for field in card.embeds[0]["fields"]}
    assert "Streamed for" in fields
    assert fields["Peak viewers"] == "1,234"


async def test_a_revocation_alerts_and_subscribes_again(streams: Streams) -> None:
    await streams.add_feed("twitch", "elsie", "media")
    twitch = streams.sandbox.platforms.twitch
    before = set(twitch.subscriptions)
    assert len(before) == 2
    await streams.control(
        "/twitch/revoke", {"login": "elsie", "reason": "notification_failures_exceeded"}
    )

    async def resubscribed() -> bool:
        enabled = {s.id for s in twitch.subscriptions.values() if s.status == "enabled"}
        return len(enabled) == 2 and not enabled & before

    await wait_until(resubscribed, within=10.0, what="two new subscriptions")
    await streams.confirmed("twitch", "elsie")
    assert any("revoked the subscription to elsie" in a for a in await streams.alerts())

    await streams.control("/twitch/revoke", {"login": "elsie", "reason": "authorization_revoked"})

    async def revoked() -> bool:
        creator = await Creator.get(login="elsie")
        return creator.state is SubscriptionState.REVOKED

    await wait_until(revoked, within=5.0, what="the feed unhealthy")
    status, listing = await streams.api("GET", f"/guilds/{streams.guild_id}/stream-feeds")
    assert status == 200
    [feed] = listing["feeds"]
    assert not feed["healthy"]
    assert "authorization_revoked" in feed["last_error"]
    assert not twitch.subscriptions  # not asked again: it would only be revoked again
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=31)
    old = await Stream.create(
        creator=await Creator.get(login="elsie"),
        external_id="1",
        started_at=long_ago,
        ended_at=long_ago,
    )
    await streams.run(RENEW_TASK)  # the renewal schedule's minute: an alert, and no new ask
    assert not await Stream.exists(id=old.id)  # ended streams are kept 30 days
    assert any(
        "twitch elsie (followed by 1 feed(s)): revoked by twitch: authorization_revoked" in a
        for a in await streams.alerts()
    )
    assert not twitch.subscriptions


async def test_a_channel_the_bot_cannot_post_in_marks_the_feed_unhealthy(streams: Streams) -> None:
    """#rules denies @everyone Send Messages and the bot has no overwrite there: the card is
    refused (403), the feed is marked unhealthy, an alert raised once, and nothing retried."""
    await streams.add_feed("twitch", "dorian", "rules")
    await streams.control("/twitch/live", {"login": "dorian"})
    await streams.settled()
    assert streams.cards("rules") == []
    status, listing = await streams.api("GET", f"/guilds/{streams.guild_id}/stream-feeds")
    [feed] = listing["feeds"]
    assert status == 200 and not feed["healthy"]
    assert feed["last_error"].startswith(f"cannot post in channel {streams.channel('rules')}")
    assert sum("live alert for dorian: cannot post" in a for a in await streams.alerts()) == 1
    # A guild alert: the kernel's delivery tells the guild (log channel, or the owner).
    assert await streams.redis.xlen(streams.keyspace.key("guild_alerts", streams.guild_id)) == 1
    dead = await streams.redis.xlen(streams.keyspace.key("dead_letter", "jobs"))
    assert dead == 0  # refused for good, not retried into the dead letters


async def test_a_subscription_whose_verification_failed_is_asked_again(streams: Streams) -> None:
    """Our service did not answer Twitch's challenge (it was starting): the subscription
    stays unverified; after 10 minutes the renewal schedule raises an operator alert and
    subscribes again, which deletes the failed subscriptions and makes new ones, verified
    this time."""
    await streams.add_feed("twitch", "elsie", "media")
    twitch = streams.sandbox.platforms.twitch
    for subscription in twitch.subscriptions.values():
        subscription.status = "webhook_callback_verification_failed"
    failed = set(twitch.subscriptions)
    creator = await Creator.get(login="elsie")
    await Creator.filter(id=creator.id).update(state=SubscriptionState.PENDING)
    await streams.run(RENEW_TASK)  # within the grace period: neither an alert nor a new ask
    assert set(twitch.subscriptions) == failed
    unverified = "live alerts for twitch elsie (followed by 1 feed(s)): the platform has not"
    assert not any(unverified in alert for alert in await streams.alerts())

    eleven_minutes_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=11)
    await Creator.filter(id=creator.id).update(updated_at=eleven_minutes_ago)
    await streams.run(RENEW_TASK)
    assert sum(unverified in alert for alert in await streams.alerts()) == 1
    await streams.confirmed("twitch", "elsie")
    assert len(twitch.subscriptions) == 2 and not failed & set(twitch.subscriptions)
    assert (await Creator.get(id=creator.id)).subscription_ids == sorted(
        twitch.subscriptions, key=lambda i: twitch.subscriptions[i].type != "stream.online"
    )


async def test_alerts_turned_off_post_nothing(streams: Streams) -> None:
    """The server's switch (`alerts.enabled`): feeds are kept, and no card is posted."""
    await configure(streams.guild_id, alerts={"enabled": False})
    await streams.add_feed("twitch", "dorian", "media")
    await streams.control("/twitch/live", {"login": "dorian"})
    await streams.settled()
    assert streams.cards("media") == []
    assert await Stream.exists(
        external_id=streams.sandbox.platforms.twitch.creators["dorian"].live_id
    )


async def test_feeds_beyond_the_premium_limit_are_paused(streams: Streams) -> None:
    """A server back on Free (3 feeds) with 4: the feed added last posts nothing."""
    for channel in ("media", "general", "off-topic"):
        await streams.add_feed("twitch", "dorian", channel)
    first = await Feed.filter(guild_id=streams.guild_id).first()
    assert first is not None
    await Feed.create(  # the fourth, from the days of a higher tier
        guild_id=streams.guild_id,
        creator_id=first.creator_id,  # type: ignore[attr-defined]
        channel_id=streams.channel("bot-commands"),
        template="{title}",
        created_by=1,
    )
    await streams.control("/twitch/live", {"login": "dorian"})
    for channel in ("media", "general", "off-topic"):
        await streams.wait_cards(channel, 1)
    await streams.settled()
    assert streams.cards("bot-commands") == []


async def test_a_card_posted_again_after_a_kill_before_its_row_is_one_message(
    streams: Streams,
) -> None:
    """A worker killed after Discord accepted the card but before the card row was written:
    the retry posts with the same nonce (`enforce_nonce`), and Discord answers with the
    first message; the row then records that message."""
    await streams.add_feed("twitch", "dorian", "media")
    await streams.control("/twitch/live", {"login": "dorian", "title": "Again"})
    [first] = await streams.wait_cards("media", 1, within=2.0)
    # The message is in the channel a moment before the worker writes its row.
    await wait_until(lambda: Card.exists(message_id=first.id), within=5.0, what="the card's row")
    card = await Card.get(message_id=first.id)
    feed_id, stream_id = card.feed_id, card.stream_id  # type: ignore[attr-defined]
    await card.delete()  # as if the worker died between the POST and the row

    await streams.run(CARD_TASK, feed_id, stream_id)
    assert [m.id for m in streams.cards("media")] == [first.id]
    again = await Card.get(feed_id=feed_id, stream_id=stream_id)
    assert again.message_id == first.id
