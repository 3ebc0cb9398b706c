"""The whole dashboard flow in a real browser (flow 9).

Debian's chromium, driven by Playwright, logs in through a real sandbox's OAuth2 consent page
against the HTTP service served by hypercorn (`run_http` in a child process, as `townsquare
http` runs it), changes the XP cooldown in the dashboard's form and picks a bot manager role
by name, and then the database row, the Redis config cache and the bot's behaviour (two
messages closer than the old cooldown but farther apart than the new one both earn XP) have
all changed.

A second test logs in with hostile `next` values (issue 10, item 3) and ends on our origin.

CI installs chromium (`.ci/run`), so this test never skips there.
"""

from __future__ import annotations

import json
import time
import typing

from playwright.async_api import async_playwright

from tests.support.browser import CHROMIUM, CHROMIUM_FLAGS
from tests.support.world import demo_guild, role_named, user_named
from townsquare.core.config.cache import get_config
from townsquare.core.config.models import GuildConfigRecord
from townsquare.core.events import MessageRecord
from townsquare.core.guilds.service import ensure_guild
from townsquare.core.settings import load_settings
from townsquare.features.xp.domain.award import award_messages
from townsquare.features.xp.domain.config import XPSection

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox

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
            page = await browser.new_page()
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

            cooldown = page.locator("#f-cooldown_seconds")
            assert await cooldown.input_value() == str(old_cooldown)
            await cooldown.fill(str(NEW_COOLDOWN))
            await page.click('form[action$="/xp"] button[type="submit"]')
            await page.wait_for_url(f"{xp_page}?saved=1")
            assert "Saved." in await page.locator("p.success").inner_text()
            assert await page.locator("#f-cooldown_seconds").input_value() == str(NEW_COOLDOWN)

            # Command access: a manager role picked by its name.
            commands_page = f"{http_service}/dashboard/guilds/{guild_id}/commands"
            await page.goto(commands_page)
            await page.check('fieldset.roles label:has-text("Moderator") input')
            await page.click('main form button[type="submit"]')
            await page.wait_for_url(f"{commands_page}?saved=1")
            ticked = page.locator('fieldset.roles input[type="checkbox"]:checked')
            assert await ticked.count() == 1
            assert await ticked.get_attribute("value") == str(moderator)
        finally:
            await browser.close()

    row = await GuildConfigRecord.get(guild_id=guild_id)
    assert row.version == 3
    assert row.document["xp"]["cooldown_seconds"] == NEW_COOLDOWN
    assert row.document["commands"]["manager_role_ids"] == [moderator]
    cached = await redis.get(keyspace.key("guild_config", guild_id))
    assert cached is not None
    cached_doc = json.loads(cached)
    assert cached_doc["version"] == 3
    assert cached_doc["config"]["xp"]["cooldown_seconds"] == NEW_COOLDOWN
    assert cached_doc["config"]["commands"]["manager_role_ids"] == [moderator]
    # After: the same two messages by another member both earn.
    assert await _awarded(redis, keyspace, guild_id, 502, 9_100) == 2


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
