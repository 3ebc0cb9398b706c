"""Live alert tasks: stream events, cards, subscriptions, renewals and polls (flow 8).

Thin adapters over `townsquare.features.streams.domain` (docs/streams.md); importing this
package registers them all:

- `cards`: `streams.event` (a stream went live or ended: the stream row, then a card job per
  feed), `streams.youtube_videos` (pushed videos asked of the Data API, batched), and
  `streams.card` (post one feed's card, pinging only its role, join a person's card, or edit
  it when the stream ends; unique per (feed, stream), so retries post nothing twice);
- `subscriptions`: `streams.subscribe` / `streams.unsubscribe` (a creator's one platform
  subscription) and `streams.renew` (every minute: leases, failed or lost subscriptions,
  alerts for unhealthy ones);
- `polls`: `streams.poll` (every 10 s, each platform at its own interval: Twitch viewer
  counts, Kick creators without webhooks, upcoming YouTube streams; the sandbox demo).
"""

from __future__ import annotations

from townsquare.features.streams.tasks.cards import CardBusyError, card, event, youtube_videos
from townsquare.features.streams.tasks.polls import poll
from townsquare.features.streams.tasks.subscriptions import renew, subscribe, unsubscribe

__all__ = [
    "CardBusyError",
    "card",
    "event",
    "poll",
    "renew",
    "subscribe",
    "unsubscribe",
    "youtube_videos",
]
