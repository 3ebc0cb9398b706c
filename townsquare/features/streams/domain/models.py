"""Feeds, the creators they follow, the streams seen and the card each feed posted.

A creator is one account on one platform, followed by any number of feeds (in any number of
guilds) through one platform subscription: the subscription state lives on the creator, so
a creator followed by a hundred guilds costs one EventSub subscription, one WebSub lease or
one Kick subscription. A stream is one broadcast (or YouTube upload) of a creator, unique by
the platform's id, and a card is what one feed posted about it: unique per (feed, stream),
which is what makes a redelivered or doubled event post nothing twice.
"""

from __future__ import annotations

import enum
import typing

from tortoise import fields
from tortoise.models import Model

if typing.TYPE_CHECKING:
    from townsquare.core.guilds.models import Guild

__all__ = ["Card", "Creator", "Feed", "Platform", "Stream", "SubscriptionState"]


class Platform(enum.StrEnum):
    TWITCH = "twitch"
    KICK = "kick"
    YOUTUBE = "youtube"


class SubscriptionState(enum.StrEnum):
    """Where a creator's platform subscription stands."""

    PENDING = "pending"
    """Asked for; the platform has not confirmed it yet (Kick: polled meanwhile)."""
    ENABLED = "enabled"
    """Confirmed: the platform delivers events."""
    REVOKED = "revoked"
    """The platform ended it (Twitch revocation, WebSub 410); see `last_error`."""
    FAILED = "failed"
    """Asking for it failed; retried by the renewal schedule."""


class Creator(Model):
    """One followed account on one platform, with its one subscription."""

    id = fields.BigIntField(primary_key=True)
    platform = fields.CharEnumField(Platform, max_length=16)
    platform_id = fields.CharField(max_length=64)
    """Twitch broadcaster user id, Kick broadcaster user id, YouTube channel id (`UC...`)."""
    login = fields.CharField(max_length=100)
    """Twitch login, Kick channel slug, YouTube handle (or the channel id when it has none)."""
    display_name = fields.CharField(max_length=100)
    state = fields.CharEnumField(
        SubscriptionState, max_length=16, default=SubscriptionState.PENDING
    )
    subscription_ids: list[str] = fields.JSONField(default=list)
    """The platform's ids of our subscriptions (Twitch: online and offline; Kick: one)."""
    expires_at = fields.DatetimeField(null=True)
    """WebSub: when the hub's lease ends (renewed before)."""
    verified_at = fields.DatetimeField(null=True)
    last_event_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    failures = fields.IntField(default=0)
    """Failed subscription attempts or polls in a row (backoff)."""
    updated_at = fields.DatetimeField(auto_now=True)

    feeds: fields.ReverseRelation[Feed]

    class Meta:
        table = "streams_creators"
        unique_together = (("platform", "platform_id"),)

    @property
    def url(self) -> str:
        """The creator's page on the platform."""
        match self.platform:
            case Platform.TWITCH:
                return f"https://www.twitch.tv/{self.login}"
            case Platform.KICK:
                return f"https://kick.com/{self.login}"
            case _:
                return f"https://www.youtube.com/channel/{self.platform_id}"


class Feed(Model):
    """One guild's alert for one creator: where it posts, whom it pings, what it says."""

    id = fields.BigIntField(primary_key=True)
    guild: fields.ForeignKeyRelation[Guild] = fields.ForeignKeyField(
        "townsquare.Guild", related_name="stream_feeds", on_delete=fields.CASCADE
    )
    creator: fields.ForeignKeyRelation[Creator] = fields.ForeignKeyField(
        "townsquare.Creator", related_name="feeds", on_delete=fields.CASCADE
    )
    channel_id = fields.BigIntField()
    role_id = fields.BigIntField(null=True)
    template = fields.CharField(max_length=500)
    announce_uploads = fields.BooleanField(default=False)
    person = fields.CharField(max_length=100, null=True)
    """Who the creator is, when one person streams on several platforms: the feeds of one
    person in one channel share one card while their streams overlap."""
    created_by = fields.BigIntField()
    created_at = fields.DatetimeField(auto_now_add=True)
    last_posted_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    """Why the last card could not be posted (a missing permission); None when healthy."""

    class Meta:
        table = "streams_feeds"
        unique_together = (("guild", "creator", "channel_id"),)


class Stream(Model):
    """One broadcast (or upload) of a creator, unique by the platform's id for it."""

    id = fields.BigIntField(primary_key=True)
    creator: fields.ForeignKeyRelation[Creator] = fields.ForeignKeyField(
        "townsquare.Creator", related_name="streams", on_delete=fields.CASCADE
    )
    external_id = fields.CharField(max_length=100)
    """Twitch stream id, YouTube video id, Kick `<user id>/<start, epoch s>` (Kick gives no id)."""
    upload = fields.BooleanField(default=False)
    """A YouTube upload rather than a live stream."""
    title = fields.CharField(max_length=300, default="")
    category = fields.CharField(max_length=200, default="")
    thumbnail_url = fields.CharField(max_length=500, default="")
    url = fields.CharField(max_length=300, default="")
    started_at = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)
    viewers = fields.IntField(null=True)
    peak_viewers = fields.IntField(null=True)

    cards: fields.ReverseRelation[Card]

    class Meta:
        table = "streams_streams"
        unique_together = (("creator", "external_id"),)


class Card(Model):
    """The message one feed posted about one stream, edited when the stream ends."""

    id = fields.BigIntField(primary_key=True)
    feed: fields.ForeignKeyRelation[Feed] = fields.ForeignKeyField(
        "townsquare.Feed", related_name="cards", on_delete=fields.CASCADE
    )
    stream: fields.ForeignKeyRelation[Stream] = fields.ForeignKeyField(
        "townsquare.Stream", related_name="cards", on_delete=fields.CASCADE
    )
    channel_id = fields.BigIntField()
    message_id = fields.BigIntField()
    ended_shown = fields.BooleanField(default=False)
    """Whether the message already shows the end."""
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "streams_cards"
        unique_together = (("feed", "stream"),)
