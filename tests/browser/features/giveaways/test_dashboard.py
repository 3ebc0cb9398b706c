"""The giveaways' dashboard pages in Debian's chromium (Playwright), against the HTTP service
in a child process: a giveaway created through the form, then its detail page before the
draw (the commitment only) and after it (the seed revealed and the draw verified)."""

from __future__ import annotations

import datetime
import typing

from playwright.async_api import async_playwright

from tests.support.accessibility import PHONE, audit_pages
from tests.support.browser import CHROMIUM, CHROMIUM_FLAGS, log_in_as
from tests.support.world import demo_guild, user_named
from townsquare.core.guilds.service import ensure_guild
from townsquare.features.giveaways.domain.entries import enter
from townsquare.features.giveaways.domain.lifecycle import (
    end_giveaway,
    one_by_one,
    open_for_entries,
)
from townsquare.features.giveaways.domain.models import Giveaway, GiveawayState

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox


async def test_a_giveaway_created_in_the_dashboard_and_its_proof_after_the_draw(
    sandbox: Sandbox, http_service: str, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    guild = demo_guild(sandbox)
    await ensure_guild(guild.id, name="Town Square Demo")
    listing = f"{http_service}/dashboard/guilds/{guild.id}/giveaways"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = await browser.new_page()
            await log_in_as(page, listing, user_named(sandbox, "sheriff"))
            await page.fill("#g-prize", "Limited edition mug")
            await page.fill("#g-duration", "1h")
            await page.fill("#g-winners", "1")
            await page.select_option("#g-channel_id", label="#general")
            await page.click('#new-giveaway button[type="submit"]')
            await page.wait_for_url("**/giveaways/*")
            giveaway = await Giveaway.get(guild_id=guild.id)
            assert page.url.endswith(f"/giveaways/{giveaway.id}")
            assert await page.locator("#state").inner_text() == "scheduled"
            proof = await page.locator("#proof").inner_text()
            assert giveaway.seed_hash in proof
            assert giveaway.seed not in await page.content()  # secret until the draw

            # The worker's part, done here: opened, three entries, the end.
            await Giveaway.filter(id=giveaway.id).update(state=GiveawayState.RUNNING)
            await open_for_entries(redis, keyspace, giveaway, None)
            for name in ("alder", "bryony", "cedar"):
                await enter(redis, keyspace, giveaway.id, user_named(sandbox, name), 1)

            async def eligible(_: int) -> str | None:
                return None

            now = datetime.datetime.now(datetime.UTC)
            await end_giveaway(redis, keyspace, giveaway.id, one_by_one(eligible), now, force=True)
            await page.reload()
            assert await page.locator("#state").inner_text() == "claiming"
            assert giveaway.seed in await page.locator("#proof").inner_text()
            assert await page.locator("#verdict").inner_text() == (
                "verified: the recorded draw is the seed's"
            )
            assert await page.locator("#winners tbody tr").count() == 1
            # The detail page, winners and proof shown, at a phone's width (docs/dashboard.md).
            await page.set_viewport_size(PHONE)
            assert not await audit_pages(page, [page.url])
            await page.goto(listing)
            assert await page.locator("table.giveaways").count() == 1
        finally:
            await browser.close()
