"""The live alerts' work on the pipelines: task names and schedules.

Task names are part of the wire format (they travel in every queued message and in dead
letters), so renaming one strands messages already queued under the old name.
"""

from __future__ import annotations

import typing

from townsquare.core.features import Schedule

__all__ = [
    "CARD_TASK",
    "EVENT_TASK",
    "POLL_TASK",
    "POLL_TICK_SECONDS",
    "RENEW_TASK",
    "STREAMS_SCHEDULES",
    "SUBSCRIBE_TASK",
    "UNSUBSCRIBE_TASK",
    "YOUTUBE_TASK",
]

EVENT_TASK: typing.Final = "streams.event"
"""A stream went live or ended (from a webhook or a poll): fan out to the creator's feeds."""
CARD_TASK: typing.Final = "streams.card"
"""Post or edit one feed's card about one stream."""
YOUTUBE_TASK: typing.Final = "streams.youtube_videos"
"""Videos pushed by the WebSub hub: live, upcoming or upload, decided by the Data API."""
SUBSCRIBE_TASK: typing.Final = "streams.subscribe"
UNSUBSCRIBE_TASK: typing.Final = "streams.unsubscribe"
RENEW_TASK: typing.Final = "streams.renew"
"""Every minute: leases close to expiry, failed and revocable subscriptions again."""
POLL_TASK: typing.Final = "streams.poll"
"""Every tick: polls what is due (Kick creators without a confirmed webhook every
`alerts.kick.poll_interval_seconds`, upcoming YouTube streams every
`alerts.youtube.poll_interval_seconds`), with backoff after errors."""
POLL_TICK_SECONDS: typing.Final = 10

STREAMS_SCHEDULES: typing.Final = (
    Schedule("streams-renew", RENEW_TASK, cron="* * * * *"),
    Schedule("streams-poll", POLL_TASK, interval_seconds=POLL_TICK_SECONDS),
)
