"""The console's Feeds pane: every guild's feeds from PostgreSQL, the unhealthy ones first."""

from __future__ import annotations

import datetime
import typing

import pytest

from tests.support.console import cells, column, open_table, tab_key
from townsquare.console import ConsoleApp
from townsquare.core.guilds.models import Guild
from townsquare.features.streams.console import FeedsPane
from townsquare.features.streams.domain.models import Creator, Feed, Platform, SubscriptionState

if typing.TYPE_CHECKING:
    from townsquare.core.keyspace import Keyspace


@pytest.mark.usefixtures("orm")
async def test_feeds_show_their_subscription_and_problem(
    redis_url: str, database_url: str, keyspace: Keyspace
) -> None:
    await Guild.create(id=101, name="Harbour")
    lease = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=4)
    fine = await Creator.create(
        platform=Platform.YOUTUBE,
        platform_id="UC" + "a" * 22,
        login="@fine",
        display_name="Fine",
        state=SubscriptionState.ENABLED,
        expires_at=lease,
    )
    revoked = await Creator.create(
        platform=Platform.TWITCH,
        platform_id="41",
        login="gone",
        display_name="Gone",
        state=SubscriptionState.REVOKED,
        last_error="revoked by twitch: user_removed",
    )
    for creator in (fine, revoked):
        await Feed.create(
            guild_id=101, creator=creator, channel_id=7, template="{title}", created_by=1
        )
    app = ConsoleApp(redis_url, database_url, keyspace, refresh_seconds=0.1)
    async with app.run_test(size=(120, 24)) as pilot:
        table = await open_table(pilot, tab_key(pilot, "feeds"), FeedsPane, rows=2, what="feeds")
        rows = cells(table)
    problem, subscription = column(table, "Problem"), column(table, "Subscription")
    assert [row[subscription] for row in rows] == ["revoked", "enabled"]
    assert rows[0][problem] == "revoked by twitch: user_removed"
    assert rows[1][problem] == ""
