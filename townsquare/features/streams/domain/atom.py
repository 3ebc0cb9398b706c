"""The Atom feed a WebSub hub pushes for a YouTube channel, parsed without trusting it.

`defusedxml` refuses DTDs, entity declarations and external references (no billion laughs,
no XXE). Entries give a video id and its channel; tombstones (`at:deleted-entry`) are
deletions and are ignored. Whether a video is live, upcoming or an upload is not in the feed:
the Data API says (`townsquare.features.streams.domain.platforms.youtube`).
"""

from __future__ import annotations

import re
import typing

import defusedxml.ElementTree as SafeTree
from defusedxml import DefusedXmlException

__all__ = ["AtomError", "FeedEntry", "parse_feed"]

_ATOM = "{http://www.w3.org/2005/Atom}"
_YT = "{http://www.youtube.com/xml/schemas/2015}"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class AtomError(ValueError):
    """The body is not a YouTube Atom feed we can read."""


class FeedEntry(typing.NamedTuple):
    video_id: str
    channel_id: str
    title: str


def parse_feed(body: bytes) -> tuple[list[FeedEntry], int]:
    """The feed's entries, and how many deleted entries it carried (ignored)."""
    try:
        root = SafeTree.fromstring(body, forbid_dtd=True)
    except DefusedXmlException as error:
        raise AtomError(f"refused XML: {error.__class__.__name__}") from None
    except SafeTree.ParseError as error:
        raise AtomError(f"not XML: {error}") from None
    if root.tag != f"{_ATOM}feed":
        raise AtomError("not an Atom feed")
    entries = []
    for entry in root.iter(f"{_ATOM}entry"):
        video_id = (entry.findtext(f"{_YT}videoId") or "").strip()
        channel_id = (entry.findtext(f"{_YT}channelId") or "").strip()
        if not _ID.match(video_id) or not _ID.match(channel_id):
            raise AtomError("an entry has no valid yt:videoId and yt:channelId")
        title = (entry.findtext(f"{_ATOM}title") or "").strip()[:300]
        entries.append(FeedEntry(video_id, channel_id, title))
    deleted = sum(1 for element in root if element.tag.endswith("}deleted-entry"))
    return entries, deleted
