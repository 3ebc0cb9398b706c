"""Feeds: every guild's live alert feeds with their subscription and health, unhealthy first.

Read from PostgreSQL on every console tick. A feed is unhealthy when its subscription was
revoked or failed, its lease has expired, it has been silent for 30 days, or its last card
could not be posted (docs/streams.md).
"""

from __future__ import annotations

import typing

from rich.text import Text
from textual.widgets import DataTable, Static

from townsquare.console import formatting as fmt
from townsquare.console.panes.feature import FeaturePane
from townsquare.console.panes.tables import BAD, new_table, refill
from townsquare.features.streams.domain.feeds import every_feed

if typing.TYPE_CHECKING:
    from textual.app import ComposeResult

    from townsquare.console.panes.feature import ConsoleContext
    from townsquare.features.streams.domain.feeds import FeedOut

__all__ = ["FeedsPane"]

type Reading = list[tuple[int, "FeedOut"]]


class FeedsPane(FeaturePane[Reading]):
    TAB_ID: typing.ClassVar = "feeds"
    TITLE: typing.ClassVar = "Feeds"

    def compose(self) -> ComposeResult:
        yield Static("waiting for the first reading", id="feeds-summary", classes="summary")
        yield new_table(
            ("Guild", 19),
            ("Platform", 8),
            ("Creator", 16),
            ("Subscription", 12),
            ("Last event", 11),
            ("Lease ends", 11),
            ("Problem", 40),
        )

    async def read(self, context: ConsoleContext) -> Reading:
        return await every_feed()

    def show(self, reading: Reading) -> None:
        rows = []
        for guild_id, feed in reading:
            style = "" if feed.healthy else BAD
            rows.append(
                (
                    str(feed.id),
                    [
                        str(guild_id),
                        feed.platform.value,
                        feed.creator,
                        Text(feed.subscription.value, style=style),
                        fmt.when(feed.last_event_at),
                        fmt.when(feed.expires_at),
                        Text(feed.last_error or "", style=style),
                    ],
                )
            )
        refill(self.query_one(DataTable), rows)
        unhealthy = sum(1 for _, feed in reading if not feed.healthy)
        text = Text(f"feeds {len(reading)}  ")
        text.append(f"unhealthy {unhealthy}", style=BAD if unhealthy else "")
        self.query_one("#feeds-summary", Static).update(text)

    def show_error(self, error: str) -> None:
        self.query_one("#feeds-summary", Static).update(Text(error, style=BAD))
