"""The whole dashboard flow in a real browser (flow 9), on a phone's screen.

Debian's chromium, driven by Playwright, at a phone's width (390 px), logs in through a real
sandbox's OAuth2 consent page against the HTTP service served by hypercorn (`run_http` in a
child process, as `townsquare http` runs it), changes the XP cooldown in the dashboard's form
with the keyboard alone and picks a bot manager role by name, and then the database row, the
Redis config cache and the bot's behaviour (two messages closer than the old cooldown but
farther apart than the new one both earn XP) have all changed.

The same browser then visits every dashboard page (issue 19): axe-core (vendored,
tests/support/accessibility.py) finds no serious or critical violation on any, none scrolls
sideways, and two pages are walked with Tab from top to bottom, every control reached in the
page's order. The guild pages are those the dashboard's navigation links, so a feature's new
page is checked once it is linked; other pages are :data:`OTHER_PAGES`, one line each.

A second test logs in with hostile `next` values (issue 10, item 3) and ends on our origin.

CI installs chromium (`.ci/run`), so this test never skips there.
"""

from __future__ import annotations

import json
import re
import time
import typing

import pytest
from playwright.async_api import async_playwright

from tests.support.accessibility import (
    PHONE,
    audit_pages,
    focusable_count,
    tab_order,
    tab_to,
)
from tests.support.browser import CHROMIUM, CHROMIUM_FLAGS
from tests.support.world import demo_guild, role_named, user_named
from townsquare.core.config.cache import get_config
from townsquare.core.config.models import GuildConfigRecord
from townsquare.core.events import MessageRecord
from townsquare.core.guilds.service import ensure_guild
from townsquare.core.settings import load_settings
from townsquare.features.xp.domain.award import award_messages
from townsquare.features.xp.domain.config import XPSection
from townsquare.features.xp.domain.models import LevelReward

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis
    from playwright.async_api import Page

    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox

OTHER_PAGES: typing.Final = (
    "/dashboard",  # the server list
    "/api/docs",  # the API reference (Swagger UI)
    "/leaderboard/{guild_id}",  # the public leaderboard (switched on on the Levels page first)
)
"""Pages outside a guild's navigation checked for accessibility (`{guild_id}`: the demo's)."""
KEYBOARD_PAGES: typing.Final = ("xp", "levels")
"""Guild pages walked with Tab from the top to the last control."""
NEW_COOLDOWN: typing.Final = 5
GAP_SECONDS: typing.Final = 20
"""Between the two messages: more than the new cooldown, less than the old one."""


def _messages(guild_id: int, author_id: int, first_message_id: int) -> list[MessageRecord]:
    """Two messages by one member, GAP_SECONDS apart, both within the lateness window."""
    now_ms = int(time.time() * 1000)
    return [
        MessageRecord(
            guild_id=guild_id,
            channel_id=1,
            author_id=author_id,
            message_id=first_message_id + n,
            timestamp_ms=now_ms - (2 - n) * GAP_SECONDS * 1000,
            role_ids=(),
            length=40,
            mention_count=0,
            link_count=0,
        )
        for n in range(2)
    ]


async def _awarded(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, author_id: int, first_id: int
) -> int:
    """How many of the two messages earn XP under the config the bot reads (the cache)."""
    defaults = load_settings(environ={}, env_file=None).guild_defaults
    config = (await get_config(redis, keyspace, guild_id, defaults)).config
    outcome = await award_messages(
        redis,
        keyspace,
        guild_id,
        config.section(XPSection),
        _messages(guild_id, author_id, first_id),
    )
    assert outcome.counted[author_id] == 2
    return int(await redis.zcard(keyspace.key("xp_awarded", guild_id, author_id)))


@pytest.mark.long
async def test_login_in_a_browser_then_a_cooldown_change_reaches_the_bot(
    sandbox: Sandbox,
    http_service: str,
    redis: aioredis.Redis,
    keyspace: Keyspace,
) -> None:
    guild = demo_guild(sandbox)
    guild_id = guild.id
    await ensure_guild(guild_id, name="Town Square Demo")
    sheriff = user_named(sandbox, "sheriff")
    moderator = role_named(guild, "Moderator")
    old_cooldown = (
        load_settings(environ={}, env_file=None).guild_defaults.section(XPSection).cooldown_seconds
    )
    assert old_cooldown > GAP_SECONDS > NEW_COOLDOWN
    # Before: the second message falls inside the cooldown and earns nothing.
    assert await _awarded(redis, keyspace, guild_id, 501, 9_000) == 1

    xp_page = f"{http_service}/dashboard/guilds/{guild_id}/xp"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = await browser.new_page(viewport=PHONE)
            await page.goto(xp_page)
            # Not logged in: the app sends the browser to the sandbox's consent page.
            await page.wait_for_url("**/oauth2/authorize**")
            assert page.url.startswith(sandbox.info.rest_url.split("/api/")[0])
            await page.click(f'button[name="user_id"][value="{sheriff}"]')
            # Back through /auth/callback to the page asked for, signed in.
            await page.wait_for_url(xp_page)
            assert await page.locator("h1").inner_text() == "Town Square Demo"
            cookies = {c["name"]: c for c in await page.context.cookies()}
            assert cookies["ts_session"]["httpOnly"]
            assert cookies["ts_session"]["sameSite"] == "Lax"

            # The layout: the guild's name, a way back to the server list.
            assert await page.locator(".guild-head a", has_text="All servers").count() == 1
            cooldown = page.locator("#f-cooldown_seconds")
            assert await cooldown.input_value() == str(old_cooldown)
            # By keyboard alone: Tab to the field (the focus visible all the way), type, Enter.
            await tab_to(page, "#f-cooldown_seconds")
            await page.keyboard.press("Control+A")
            await page.keyboard.type(str(NEW_COOLDOWN))
            await page.keyboard.press("Enter")
            await page.wait_for_url(re.compile(r".*\?changed=cooldown_seconds&saved=1$"))
            saved = await page.locator("#saved").inner_text()
            assert f"Cooldown (seconds): now {NEW_COOLDOWN}" in saved
            assert await page.locator("#f-cooldown_seconds").input_value() == str(NEW_COOLDOWN)

            # Command access: a manager role picked by its name.
            commands_page = f"{http_service}/dashboard/guilds/{guild_id}/commands"
            await page.goto(commands_page)
            await page.check('fieldset.roles label:has-text("Moderator") input')
            await page.click('main form button[type="submit"]')
            await page.wait_for_url(re.compile(r".*saved=1$"))
            assert "Bot manager roles: now Moderator" in await page.locator("#saved").inner_text()
            ticked = page.locator('fieldset.roles input[type="checkbox"]:checked')
            assert await ticked.count() == 1
            assert await ticked.get_attribute("value") == str(moderator)

            # The public leaderboard page, off by default, switched on for the checks below.
            await page.goto(f"{http_service}/dashboard/guilds/{guild_id}/levels")
            switch = page.locator("#f-public_leaderboard")
            await switch.check()
            await switch.locator("xpath=ancestor::form").locator('button[type="submit"]').click()
            await page.wait_for_url(re.compile(r".*saved=1$"))

            await _every_page_is_accessible(page, http_service, guild_id)
            await _try_it_out(page, http_service, guild_id, role_named(guild, "Level 5"))
        finally:
            await browser.close()

    row = await GuildConfigRecord.get(guild_id=guild_id)
    assert row.version == 4  # the cooldown, the manager role, the public leaderboard
    assert row.document["levels"]["public_leaderboard"] is True
    assert row.document["xp"]["cooldown_seconds"] == NEW_COOLDOWN
    assert row.document["commands"]["manager_role_ids"] == [moderator]
    cached = await redis.get(keyspace.key("guild_config", guild_id))
    assert cached is not None
    cached_doc = json.loads(cached)
    assert cached_doc["version"] == 4
    assert cached_doc["config"]["xp"]["cooldown_seconds"] == NEW_COOLDOWN
    assert cached_doc["config"]["commands"]["manager_role_ids"] == [moderator]
    [reward] = await LevelReward.filter(guild_id=guild_id)  # added through "Try it out"
    assert (reward.level, reward.role_id) == (5, role_named(guild, "Level 5"))
    # After: the same two messages by another member both earn.
    assert await _awarded(redis, keyspace, guild_id, 502, 9_100) == 2


async def _every_page_is_accessible(page: Page, base: str, guild_id: int) -> None:
    """Every guild page the navigation links and :data:`OTHER_PAGES`: no serious or critical
    axe-core violation, no sideways scroll; :data:`KEYBOARD_PAGES` walked with Tab."""
    await page.goto(f"{base}/dashboard/guilds/{guild_id}/xp")
    links = await page.locator("nav.tabs a").evaluate_all("links => links.map(a => a.href)")
    assert len(links) >= 10, links
    others = [f"{base}{path.format(guild_id=guild_id)}" for path in OTHER_PAGES]
    problems = await audit_pages(page, [*links, *others])
    assert not problems, "\n".join(problems)
    for name in KEYBOARD_PAGES:
        await page.goto(f"{base}/dashboard/guilds/{guild_id}/{name}")
        reached = await tab_order(page)
        assert len(reached) == await focusable_count(page), f"{name}: a control Tab skips"
        assert reached == sorted(reached), f"{name}: Tab jumps back and forth"


async def _try_it_out(page: Page, base: str, guild_id: int, role_id: int) -> None:
    """The API reference's "Try it out" adds a level reward: a POST on the session cookie,
    with the CSRF token the page's script adds."""
    await page.goto(f"{base}/api/docs")
    operation = page.locator(".opblock-post", has_text="/api/v1/guilds/{guild_id}/level-rewards")
    await operation.locator(".opblock-summary-control").click()
    await operation.locator("button.try-out__btn").click()
    await operation.locator('input[placeholder="guild_id"]').fill(str(guild_id))
    body = json.dumps({"level": 5, "role_id": str(role_id)})
    await operation.locator("textarea.body-param__text").fill(body)
    await operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tr.response .response-col_status").first
    await status.wait_for()
    assert (await status.inner_text()).strip() == "201"


HOSTILE_NEXT: typing.Final = (
    "/%09/evil.example/",  # issue 10's reproduction: Location "/\t/evil.example/"
    "/%5C/evil.example/",
    "/%0D%0A/evil.example/",
    "%20//evil.example/",
)
"""Raw query values of `/auth/login?next=` that a browser, unguarded, would follow off-site."""


async def test_a_hostile_next_after_login_ends_on_our_origin(
    sandbox: Sandbox, http_service: str
) -> None:
    """Chromium logs in with each hostile `next` and lands on our dashboard, not elsewhere.

    Before the fix the first one ended at http://evil.example/ (chromium drops the tab).
    """
    sheriff = next(u.id for u in sandbox.world.users.values() if u.username == "sheriff")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = await browser.new_page()
            visited: list[str] = []
            page.on("framenavigated", lambda frame: visited.append(frame.url))
            for hostile in HOSTILE_NEXT:
                await page.goto(f"{http_service}/auth/login?next={hostile}")
                await page.wait_for_url("**/oauth2/authorize**")
                await page.click(f'button[name="user_id"][value="{sheriff}"]')
                # Wherever the callback's redirect leads, once it has been followed:
                await page.wait_for_url(
                    lambda url: "/oauth2/authorize" not in url and "/auth/callback" not in url
                )
                assert page.url == f"{http_service}/dashboard", (hostile, page.url)
            assert not [url for url in visited if "evil.example" in url], visited
        finally:
            await browser.close()
