"""The Atom feed a WebSub hub pushes, what videos mean, and the card's text."""

from __future__ import annotations

import datetime

import pytest

from townsquare.features.streams.domain.atom import AtomError, parse_feed
from townsquare.features.streams.domain.feeds import FeedError, creator_query
from townsquare.features.streams.domain.models import Platform
from townsquare.features.streams.domain.platforms.base import token_lifetime
from townsquare.features.streams.domain.platforms.youtube import Video
from townsquare.features.streams.domain.polling import youtube_events

# YouTube's documented push (developers.google.com/youtube/v3/guides/push_notifications).
FEED = b"""<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015"
         xmlns="http://www.w3.org/2005/Atom">
  <link rel="hub" href="https://pubsubhubbub.appspot.com"/>
  <link rel="self" href="https://www.youtube.com/xml/feeds/videos.xml?channel_id=UCxxxxxxxxxxxxxxxxxxxxxx"/>
  <title>YouTube video feed</title>
  <updated>2015-04-01T19:05:24.552394234+00:00</updated>
  <entry>
    <id>yt:video:VIDEO_ID</id>
    <yt:videoId>VIDEO_ID</yt:videoId>
    <yt:channelId>CHANNEL_ID</yt:channelId>
    <title>Video title</title>
    <link rel="alternate" href="http://www.youtube.com/watch?v=VIDEO_ID"/>
    <author>
     <name>Channel title</name>
     <uri>http://www.youtube.com/channel/CHANNEL_ID</uri>
    </author>
    <published>2015-03-06T21:40:57+00:00</published>
    <updated>2015-03-09T19:05:24.552394234+00:00</updated>
  </entry>
</feed>"""
DELETED = b"""<feed xmlns:at="http://purl.org/atompub/tombstones/1.0"
      xmlns="http://www.w3.org/2005/Atom">
  <at:deleted-entry ref="yt:video:VIDEO_ID" when="2015-03-09T19:05:24.552394234+00:00">
    <link href="http://www.youtube.com/watch?v=VIDEO_ID"/>
    <at:by><name>Channel title</name><uri>http://www.youtube.com/channel/CHANNEL_ID</uri></at:by>
  </at:deleted-entry>
</feed>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>
<feed xmlns="http://www.w3.org/2005/Atom"><title>&lol2;</title></feed>"""
NOW = datetime.datetime(2026, 12, 2, 14, 0, tzinfo=datetime.UTC)


def test_the_documented_push_gives_its_video_and_channel() -> None:
    entries, deleted = parse_feed(FEED)
    assert [(e.video_id, e.channel_id, e.title) for e in entries] == [
        ("VIDEO_ID", "CHANNEL_ID", "Video title")
    ]
    assert deleted == 0


def test_deleted_entries_are_counted_and_ignored() -> None:
    assert parse_feed(DELETED) == ([], 1)


@pytest.mark.parametrize(
    "body", [LAUGHS, b"not xml", b"<rss/>", FEED.replace(b"<yt:videoId>VIDEO_ID", b"<yt:videoId>")]
)
def test_unreadable_or_hostile_xml_is_refused(body: bytes) -> None:
    with pytest.raises(AtomError):
        parse_feed(body)


def _video(video_id: str, state: str, **changes: object) -> Video:
    values: dict[str, object] = {
        "video_id": video_id,
        "channel_id": "UC" + "a" * 22,
        "title": "t",
        "state": state,
        "was_live": state != "none",
        "started_at": None,
        "ended_at": None,
        "viewers": None,
        "thumbnail_url": "",
        "published_at": NOW - datetime.timedelta(minutes=5),
    } | changes
    return Video(**values)  # type: ignore[arg-type]


def test_videos_are_live_ended_upcoming_fresh_uploads_or_old_edits() -> None:
    videos = [
        _video("live", "live", started_at=NOW),
        _video("ended", "none", was_live=True, ended_at=NOW),
        _video("soon", "upcoming"),
        _video("upload", "none"),
        _video("old", "none", published_at=NOW - datetime.timedelta(days=30)),
    ]
    events, upcoming, done = youtube_events(videos, NOW)
    assert [(e.stream_id, e.kind, e.upload) for e in events] == [
        ("live", "online", False),
        ("ended", "offline", False),
        ("upload", "online", True),
    ]
    assert upcoming == ["soon"]
    assert done == ["live", "ended", "upload", "old"]


@pytest.mark.parametrize(
    ("platform", "text", "query"),
    [
        (Platform.TWITCH, "https://www.twitch.tv/Dorian_1/", "Dorian_1"),
        (Platform.KICK, "elsie-k", "elsie-k"),
        (Platform.YOUTUBE, "@dorian", "@dorian"),
        (Platform.YOUTUBE, "https://youtube.com/channel/UC" + "b" * 22, "UC" + "b" * 22),
    ],
)
def test_creators_are_named_by_login_or_link(platform: Platform, text: str, query: str) -> None:
    assert creator_query(platform, text) == query


@pytest.mark.parametrize(
    ("platform", "text"),
    [(Platform.TWITCH, "no spaces"), (Platform.YOUTUBE, "UCshort"), (Platform.KICK, "a" * 26)],
)
def test_a_malformed_creator_is_a_400(platform: Platform, text: str) -> None:
    with pytest.raises(FeedError) as refused:
        creator_query(platform, text)
    assert (refused.value.status, refused.value.code) == (400, "invalid_creator")


def test_app_tokens_are_renewed_before_they_expire() -> None:
    assert token_lifetime(5_184_000) == 5_184_000 - 3600
    assert token_lifetime(3600) == 3600 - 360
    assert token_lifetime(100) == 40
