"""The console's premium pane: each paid or grace-period guild's usage against its limits, and
users' own entitlements."""

from __future__ import annotations

import datetime
import typing

import pytest
from rich.text import Text
from textual.widgets import DataTable

from tests.support.console import cells, until
from townsquare.console import ConsoleApp
from townsquare.core.guilds.models import Guild
from townsquare.core.premium import PremiumCatalogue
from townsquare.core.settings import load_settings
from townsquare.features.assistant.domain.limits import reserve_tokens
from townsquare.features.premium.console import PremiumPane
from townsquare.features.premium.domain.models import (
    PremiumEntitlement,
    PremiumSource,
    PremiumSubscription,
)
from townsquare.features.premium.domain.status import sync_guild
from townsquare.features.xp.domain.models import LevelReward

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("orm")]


async def test_usage_and_grace_periods_are_listed(
    redis_url: str, database_url: str, keyspace: Keyspace, redis: aioredis.Redis
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    await Guild.create(id=201, name="Lapsed")
    subscription = await PremiumSubscription.create(
        guild_id=201,
        tier="plus",
        source=PremiumSource.MANUAL,
        starts_at=now - datetime.timedelta(days=30),
        expires_at=now + datetime.timedelta(hours=1),
    )
    for level in range(1, 13):
        await LevelReward.create(guild_id=201, level=level, role_id=5000 + level)
    await reserve_tokens(redis, keyspace, 201, 1_234, None)  # the assistant's tokens today
    await PremiumEntitlement.create(id=99, sku_id=777, user_id=4242, type=8)  # a user's own
    catalogue = PremiumCatalogue(load_settings(environ={}, env_file=None).premium)
    await sync_guild(redis, keyspace, catalogue, 201, now=now)
    subscription.expires_at = now - datetime.timedelta(minutes=1)
    await subscription.save()
    assert (await sync_guild(redis, keyspace, catalogue, 201, now=now)).grace_until is not None

    app = ConsoleApp(redis_url, database_url, keyspace, refresh_seconds=0.2)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("4")
        usage = app.query_one(PremiumPane).query(DataTable)[1]
        await until(pilot, lambda: usage.row_count == 1, what="the lapsed guild's usage")
        [row] = cells(usage)
        assert row[0] == "201"
        assert row[1] == "plus"  # kept during the grace period
        assert row[2].startswith("in ")
        assert "xp.level_rewards 12/50" in row[3]
        assert "assistant.tokens_per_day 1,234/250,000" in row[3]
        guild = usage.get_row_at(0)[0]
        assert isinstance(guild, Text) and "yellow" in str(guild.style)
        users = app.query_one(PremiumPane).query(DataTable)[2]
        await until(pilot, lambda: users.row_count == 1, what="the user's own entitlement")
        assert cells(users)[0][:2] == ["4242", "777"]
