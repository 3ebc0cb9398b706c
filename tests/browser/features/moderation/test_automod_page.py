"""The automod page in chromium: the rules form saves, and the "test a message" box shows
which rules a text breaks, with their action and points."""

from __future__ import annotations

import typing

from tests.support.browser import logged_in_page
from tests.support.moderation import configure_moderation, moderation_section
from tests.support.world import demo_guild, user_named
from townsquare.core.config.models import GuildConfigRecord

if typing.TYPE_CHECKING:
    from townsquare.sandbox import Sandbox


async def test_the_rules_page_and_its_test_box(sandbox: Sandbox, http_service: str) -> None:
    guild = demo_guild(sandbox)
    section = moderation_section(automod={"banned_words": ["free nitro"], "block_links": True})
    await configure_moderation(guild.id, section)
    page_url = f"{http_service}/dashboard/guilds/{guild.id}/automod"
    async with logged_in_page(page_url, user_named(sandbox, "sheriff")) as page:
        caps = page.locator("#f-automod-rules-caps-enabled")
        assert not await caps.is_checked()
        await caps.check()
        await page.locator("#f-automod-rules-caps-points").fill("3")
        await page.get_by_role("button", name="Save").click()
        await page.wait_for_url("**saved=1")

        text = "FR33 NITRO FOR EVERYONE CLICK HERE RIGHT NOW https://scam.test"
        await page.locator("#test-text").fill(text)
        await page.get_by_role("button", name="Test").click()
        await page.wait_for_url("**test=*")
        rows = await page.locator("#test-result tbody tr").all_inner_texts()
        assert rows[0].split("\t")[:2] == ["words", "banned word 'free nitro'"]
        assert [r.split("\t")[0] for r in rows] == ["words", "links", "caps"]
        assert rows[2].split("\t")[2:] == ["delete", "3"]

        await page.locator("#test-text").fill("hello there")
        await page.get_by_role("button", name="Test").click()
        await page.wait_for_url("**test=hello*")
        assert await page.locator("#test-result").inner_text() == "No rule matches this message."
    stored = (await GuildConfigRecord.get(guild_id=guild.id)).document["moderation"]["automod"]
    assert stored["rules"]["caps"] == {**stored["rules"]["caps"], "enabled": True, "points": 3}
