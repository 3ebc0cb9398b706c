"""The server-rendered dashboard: login, the picker, conflicts, CSRF, no external resources.
Each feature's pages are tested under `tests/http/features/<name>/test_dashboard.py`."""

from __future__ import annotations

import re
import typing

import yarl

from tests.support.web import (
    HTML,
    consent,
    follow,
    form_values,
    log_in,
    page_text,
)
from tests.support.world import user_named
from townsquare.core.config.models import GuildConfigRecord

if typing.TYPE_CHECKING:
    import aiohttp
    from quart.testing import QuartClient

    from townsquare.sandbox import Sandbox


async def test_not_logged_in_pages_redirect_to_login(client: QuartClient, bot_in_demo: int) -> None:
    response = await client.get("/dashboard", headers=HTML)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=/dashboard")


async def test_picker_lists_the_guilds_the_user_may_manage(
    client: QuartClient, browser: aiohttp.ClientSession, sandbox: Sandbox, bot_in_demo: int
) -> None:
    location = await log_in(client, browser, sandbox, "sheriff")
    assert location == "/dashboard"
    page = await page_text(client, location)
    assert "Town Square Demo" in page
    assert f"/dashboard/guilds/{bot_in_demo}/xp" in page

    await log_in(client, browser, sandbox, "alder")
    page = await page_text(client, "/dashboard")
    assert "No server to manage" in page


async def test_a_stale_form_is_refused_with_a_clear_message(
    sheriff: QuartClient, bot_in_demo: int
) -> None:
    url = f"/dashboard/guilds/{bot_in_demo}/xp"
    first_tab = form_values(await page_text(sheriff, url))
    second_tab = dict(first_tab)
    first_tab["cooldown_seconds"] = "11"
    assert (await sheriff.post(url, form=first_tab, headers=HTML)).status_code == 303
    second_tab["cooldown_seconds"] = "22"
    response = await sheriff.post(url, form=second_tab, headers=HTML)
    assert response.status_code == 409
    page = await response.get_data(as_text=True)
    assert "the configuration changed since you loaded it" in page
    assert 'name="expected_version" value="2"' in page
    assert 'name="cooldown_seconds" value="11"' in page
    row = await GuildConfigRecord.get(guild_id=bot_in_demo)
    assert (row.version, row.document["xp"]["cooldown_seconds"]) == (2, 11)


async def test_a_form_without_its_csrf_token_is_refused(
    sheriff: QuartClient, bot_in_demo: int
) -> None:
    url = f"/dashboard/guilds/{bot_in_demo}/xp"
    form = form_values(await page_text(sheriff, url))
    form.pop("csrf_token")
    response = await sheriff.post(url, form=form, headers=HTML)
    assert response.status_code == 403
    assert "CSRF" in await response.get_data(as_text=True)
    form["csrf_token"] = "f" * 64
    assert (await sheriff.post(url, form=form)).status_code == 403
    assert (await GuildConfigRecord.get(guild_id=bot_in_demo)).version == 1


async def test_pages_have_no_external_resources(sheriff: QuartClient, bot_in_demo: int) -> None:
    for url in ("/dashboard", f"/dashboard/guilds/{bot_in_demo}/xp"):
        page = await page_text(sheriff, url)
        assert not re.search(r"(src|href|action)=\"(https?:)?//", page)
        assert "<script" not in page  # the forms work without JavaScript


async def test_guild_pages_redirect_to_login_and_come_back(
    client: QuartClient, browser: aiohttp.ClientSession, sandbox: Sandbox, bot_in_demo: int
) -> None:
    url = f"/dashboard/guilds/{bot_in_demo}/xp"
    response = await client.get(url, headers=HTML)
    assert response.status_code == 302
    login = response.headers["Location"]
    authorize = await client.get(login)
    assert authorize.status_code == 302
    callback = await consent(
        browser, yarl.URL(authorize.headers["Location"]), user_named(sandbox, "sheriff")
    )
    back = await follow(client, callback)
    assert back.headers["Location"] == url
    assert "XP settings" in await page_text(client, url)


async def test_the_layout_heads_guild_pages_and_an_iconless_guild_has_no_icon(
    sheriff: QuartClient, bot_in_demo: int
) -> None:
    page = await page_text(sheriff, f"/dashboard/guilds/{bot_in_demo}/xp")
    assert '<a href="/dashboard"><span aria-hidden="true">←</span> All servers</a>' in page
    assert '<span class="guild-icon initials" aria-hidden="true">TSD</span>' in page
    assert "<h1>Town Square Demo</h1>" in page
    assert 'aria-current="page">XP settings</a>' in page
    icon = await sheriff.get(f"/dashboard/guilds/{bot_in_demo}/icon", headers=HTML)
    assert icon.status_code == 404  # the sandbox's guilds have no icon
