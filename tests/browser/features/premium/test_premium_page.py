"""The dashboard's premium page in chromium: tier, source, end, usage bars, the tier table."""

from __future__ import annotations

import typing

from tests.support.browser import logged_in_page
from tests.support.world import demo_guild, role_named, user_named
from townsquare.core.audit.service import Actor
from townsquare.core.guilds.service import ensure_guild
from townsquare.core.premium import LIMITS, PremiumCatalogue
from townsquare.core.settings import load_settings
from townsquare.features.premium.domain.service import grant
from townsquare.features.premium.domain.status import sync_guild
from townsquare.features.xp.domain.models import LevelReward

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox


async def test_the_premium_page_shows_tier_usage_and_the_tier_table(
    sandbox: Sandbox, http_service: str, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    guild = demo_guild(sandbox)
    await ensure_guild(guild.id, name="Town Square Demo")
    role = role_named(guild, "Level 5")
    for level in range(1, 21):  # 20 of Plus's 50
        await LevelReward.create(guild_id=guild.id, level=level, role_id=role)
    await grant(guild.id, "plus", 30, Actor.system())
    catalogue = PremiumCatalogue(load_settings(environ={}, env_file=None).premium)
    await sync_guild(redis, keyspace, catalogue, guild.id)

    page_url = f"{http_service}/dashboard/guilds/{guild.id}/premium"
    async with logged_in_page(page_url, user_named(sandbox, "sheriff")) as page:
        assert await page.locator("#premium-tier").inner_text() == "Plus"
        assert await page.locator("#premium-source").inner_text() == "granted by the operators"
        assert "UTC" in await page.locator("#premium-ends").inner_text()
        rewards = page.locator('#premium-limits tr[data-limit="xp.level_rewards"]')
        assert await rewards.locator("progress").get_attribute("value") == "40"
        assert "20 of 50 level rewards on Plus." in await rewards.inner_text()
        headers = await page.locator("#premium-tiers thead th").all_inner_texts()
        assert headers == ["Limit", "Free", "Plus", "Pro"]
        current = page.locator('#premium-tiers thead th[aria-current="true"]')
        assert await current.inner_text() == "Plus"
        rows = page.locator("#premium-tiers tbody tr")
        assert await rows.count() == len(LIMITS)
        background = await rows.filter(has_text="background").all_inner_texts()
        assert background == ["Upload a background image for /rank cards.\tno\tyes\tyes"]
        nav = page.locator('nav.tabs a[aria-current="page"]')
        assert await nav.inner_text() == "Premium"
