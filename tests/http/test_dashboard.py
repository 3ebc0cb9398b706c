"""The server-rendered dashboard: picker, forms, validation beside fields, conflicts, CSRF."""

from __future__ import annotations

import html
import json
import re
import typing
import urllib.parse

import yarl

from tests.support.web import consent, cut_off_discord, follow, log_in
from tests.support.world import user_named
from townsquare.core.audit.models import AuditEntry
from townsquare.core.config.models import GuildConfigRecord
from townsquare.http.guild_lookups import FAILURE_SECONDS
from townsquare.http.state import state_of

if typing.TYPE_CHECKING:
    import aiohttp
    import redis.asyncio as aioredis
    from quart import Quart
    from quart.testing import QuartClient

    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox

HTML = {"Accept": "text/html"}


def _form_values(page: str) -> dict[str, str]:
    """What a browser would submit from the page's config form, unchanged."""
    form = page.split('<form method="post" action="/dashboard/guilds/', 1)[1].split(
        "</form>", maxsplit=1
    )[0]
    values: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        if name is None:
            continue
        if 'type="checkbox"' in tag:
            if " checked" in tag:
                values[name.group(1)] = "on"
            continue
        value = re.search(r'value="([^"]*)"', tag)
        values[name.group(1)] = html.unescape(value.group(1)) if value else ""
    for name, options in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        selected = re.search(r'<option value="([^"]+)" selected>', options)
        values[name] = selected.group(1) if selected else ""
    for name, text in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        values[name] = html.unescape(text)
    return values


async def _page(client: QuartClient, url: str) -> str:
    response = await client.get(url, headers=HTML)
    assert response.status_code == 200, await response.get_data(as_text=True)
    return await response.get_data(as_text=True)


async def test_not_logged_in_pages_redirect_to_login(client: QuartClient, bot_in_demo: int) -> None:
    response = await client.get("/dashboard", headers=HTML)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=/dashboard")


async def test_picker_lists_the_guilds_the_user_may_manage(
    client: QuartClient, browser: aiohttp.ClientSession, sandbox: Sandbox, bot_in_demo: int
) -> None:
    location = await log_in(client, browser, sandbox, "sheriff")
    assert location == "/dashboard"
    page = await _page(client, location)
    assert "Town Square Demo" in page
    assert f"/dashboard/guilds/{bot_in_demo}/xp" in page

    await log_in(client, browser, sandbox, "alder")
    page = await _page(client, "/dashboard")
    assert "No server to manage" in page


async def test_xp_change_saves_to_db_audit_and_cache_then_says_so(
    sheriff: QuartClient, bot_in_demo: int, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    url = f"/dashboard/guilds/{bot_in_demo}/xp"
    form = _form_values(await _page(sheriff, url))
    assert form["cooldown_seconds"] == "60"
    assert form["expected_version"] == "1"
    form["cooldown_seconds"] = "12"
    form.pop("voice.enabled", None)  # untick a checkbox
    response = await sheriff.post(url, form=form, headers=HTML)
    assert response.status_code == 303
    assert response.headers["Location"] == f"{url}?saved=1"
    page = await _page(sheriff, response.headers["Location"])
    assert "Saved." in page
    assert 'name="expected_version" value="2"' in page

    row = await GuildConfigRecord.get(guild_id=bot_in_demo)
    assert row.version == 2
    assert row.document["xp"]["cooldown_seconds"] == 12
    assert row.document["xp"]["voice"]["enabled"] is False
    assert await AuditEntry.filter(guild_id=bot_in_demo, action="config.update").count() == 1
    cached = json.loads(await redis.get(keyspace.key("guild_config", bot_in_demo)))
    assert cached["version"] == 2
    assert cached["config"]["xp"]["cooldown_seconds"] == 12


async def test_invalid_values_are_shown_beside_their_field(
    sheriff: QuartClient, bot_in_demo: int
) -> None:
    url = f"/dashboard/guilds/{bot_in_demo}/xp"
    form = _form_values(await _page(sheriff, url))
    form["cooldown_seconds"] = "soon"
    form["voice.min_members"] = "1"
    response = await sheriff.post(url, form=form, headers=HTML)
    assert response.status_code == 400
    page = await response.get_data(as_text=True)
    assert re.search(r'id="f-cooldown_seconds-error">[^<]*valid integer', page), page
    assert re.search(r'id="f-voice-min_members-error">[^<]*greater than or equal to 2', page)
    assert 'value="soon"' in page  # what the user typed is kept
    form["cooldown_seconds"] = "30"
    form["voice.min_members"] = "2"
    form["per_message_min"] = "90"
    response = await sheriff.post(url, form=form, headers=HTML)
    assert response.status_code == 400
    assert "per_message_min must not be larger" in await response.get_data(as_text=True)
    assert (await GuildConfigRecord.get(guild_id=bot_in_demo)).version == 1


def _role_ids(sandbox: Sandbox, guild_id: int) -> dict[str, int]:
    return {role.name: role.id for role in sandbox.world.guilds[guild_id].roles.values()}


async def _post_roles(
    client: QuartClient, url: str, page: str, role_ids: list[str]
) -> tuple[int, str]:
    """Post the command access form with `role_ids` ticked (or typed), as a browser would."""
    form = _form_values(page)
    fields = [(k, v) for k, v in form.items() if k != "manager_role_ids"]
    fields += [("manager_role_ids", role_id) for role_id in role_ids]
    response = await client.post(
        url,
        data=urllib.parse.urlencode(fields),
        headers={**HTML, "Content-Type": "application/x-www-form-urlencoded"},
    )
    return response.status_code, await response.get_data(as_text=True)


async def test_command_access_page_picks_manager_roles_from_the_guilds_roles(
    sheriff: QuartClient,
    sandbox: Sandbox,
    bot_in_demo: int,
    redis: aioredis.Redis,
    keyspace: Keyspace,
) -> None:
    roles = _role_ids(sandbox, bot_in_demo)
    url = f"/dashboard/guilds/{bot_in_demo}/commands"
    page = await _page(sheriff, url)
    offered = re.findall(r'name="manager_role_ids" value="(\d+)">\s*([^<]+?)\s*</label>', page)
    names = [name for _, name in offered]
    # Highest first; not @everyone, not the bot's own (managed) role.
    assert names[:3] == ["Admin", "Moderator", "Streamer"], names
    assert "@everyone" not in names and "Townsquare" not in names
    assert {int(role_id) for role_id, _ in offered} <= set(roles.values())

    status, _ = await _post_roles(
        sheriff, url, page, [str(roles["Moderator"]), str(roles["Streamer"])]
    )
    assert status == 303
    row = await GuildConfigRecord.get(guild_id=bot_in_demo)
    assert row.document["commands"] == {"manager_role_ids": [roles["Moderator"], roles["Streamer"]]}
    cached = json.loads(await redis.get(keyspace.key("guild_config", bot_in_demo)))
    assert cached["config"]["commands"] == row.document["commands"]
    page = await _page(sheriff, url)
    assert f'value="{roles["Moderator"]}" checked>' in page
    assert f'value="{roles["Admin"]}">' in page  # not ticked


async def test_a_role_not_of_the_guild_is_refused_beside_the_field(
    sheriff: QuartClient, sandbox: Sandbox, bot_in_demo: int
) -> None:
    roles = _role_ids(sandbox, bot_in_demo)
    url = f"/dashboard/guilds/{bot_in_demo}/commands"
    page = await _page(sheriff, url)
    for ticked, expected in (
        (["222"], r"222 is not a role of this server"),
        ([str(roles["Townsquare"])], rf"{roles['Townsquare']} is not a role of this server"),
        (["moderators"], r"entry 1: [^<]*valid integer"),
        ([str(roles["Admin"])] * 2, r"[^<]*a role is listed twice"),
    ):
        status, answer = await _post_roles(sheriff, url, page, ticked)
        assert status == 400
        assert re.search(rf'class="field-error" id="f-manager_role_ids-error">{expected}', answer)
    assert (await GuildConfigRecord.get(guild_id=bot_in_demo)).version == 1


async def test_without_discord_the_roles_are_typed_as_ids(
    app: Quart, sheriff: QuartClient, bot_in_demo: int, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    await _page(sheriff, "/dashboard")  # the manage check is cached for the session
    working = cut_off_discord(app)
    url = f"/dashboard/guilds/{bot_in_demo}/commands"
    page = await _page(sheriff, url)
    assert "Discord could not be asked for this server's roles" in page
    # The failure is remembered for a few seconds: pages do not wait on Discord each time.
    state_of(app).discord = working
    assert "Discord could not be asked" in await _page(sheriff, url)
    remembered = keyspace.key("guild_roles", bot_in_demo)
    assert await redis.get(remembered) == b"null"
    assert 0 < await redis.ttl(remembered) <= FAILURE_SECONDS
    form = _form_values(page)
    form["manager_role_ids"] = "222, 111"
    response = await sheriff.post(url, form=form, headers=HTML)
    assert response.status_code == 303  # typed ids are taken as they are
    row = await GuildConfigRecord.get(guild_id=bot_in_demo)
    assert row.document["commands"] == {"manager_role_ids": [222, 111]}


async def test_levels_page_changes_the_notice(
    sheriff: QuartClient, sandbox: Sandbox, bot_in_demo: int
) -> None:
    channels = {c.name: c.id for c in sandbox.world.guilds[bot_in_demo].channels.values()}
    url = f"/dashboard/guilds/{bot_in_demo}/levels"
    page = await _page(sheriff, url)
    offered = re.findall(r'<option value="(\d+)">(#[^<]+)</option>', page)
    names = [name for _, name in offered]
    # Text channels only (no category or voice channel), in Discord's order.
    assert names[:4] == ["#welcome", "#rules", "#announcements", "#general"], names
    assert "#Lounge" not in names and "#Information" not in names
    form = _form_values(page)
    form["notice.mode"] = "channel"
    form["notice.channel_id"] = ""
    response = await sheriff.post(url, form=form, headers=HTML)
    assert response.status_code == 400
    assert "needs a channel_id" in await response.get_data(as_text=True)
    form["notice.channel_id"] = str(channels["Lounge"])  # a voice channel
    response = await sheriff.post(url, form=form, headers=HTML)
    assert response.status_code == 400
    assert f"{channels['Lounge']} is not a text channel of this server" in (
        await response.get_data(as_text=True)
    )
    form["notice.channel_id"] = str(channels["general"])
    form["notice.template"] = "GG {user}, level {level}!"
    form["reward_mode"] = "replace"
    response = await sheriff.post(url, form=form, headers=HTML)
    assert response.status_code == 303
    document = (await GuildConfigRecord.get(guild_id=bot_in_demo)).document
    assert document["levels"] == {
        "reward_mode": "replace",
        "notice": {
            "mode": "channel",
            "channel_id": channels["general"],
            "template": "GG {user}, level {level}!",
        },
    }


async def test_a_stale_form_is_refused_with_a_clear_message(
    sheriff: QuartClient, bot_in_demo: int
) -> None:
    url = f"/dashboard/guilds/{bot_in_demo}/xp"
    first_tab = _form_values(await _page(sheriff, url))
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
    form = _form_values(await _page(sheriff, url))
    form.pop("csrf_token")
    response = await sheriff.post(url, form=form, headers=HTML)
    assert response.status_code == 403
    assert "CSRF" in await response.get_data(as_text=True)
    form["csrf_token"] = "f" * 64
    assert (await sheriff.post(url, form=form)).status_code == 403
    assert (await GuildConfigRecord.get(guild_id=bot_in_demo)).version == 1


async def test_pages_have_no_external_resources(sheriff: QuartClient, bot_in_demo: int) -> None:
    for url in ("/dashboard", f"/dashboard/guilds/{bot_in_demo}/xp"):
        page = await _page(sheriff, url)
        assert not re.search(r"(src|href|action)=\"(https?:)?//", page)
        assert "<script" not in page  # the forms work without JavaScript


async def test_level_rewards_are_added_and_removed_with_audit(
    sheriff: QuartClient, sandbox: Sandbox, bot_in_demo: int
) -> None:
    from townsquare.core.xp.models import LevelReward

    url = f"/dashboard/guilds/{bot_in_demo}/levels"
    page = await _page(sheriff, url)
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert csrf is not None
    add = f"/dashboard/guilds/{bot_in_demo}/rewards"
    role = _role_ids(sandbox, bot_in_demo)["Level 5 · Newcomer"]
    # The role is picked from the guild's roles by name.
    assert f'<option value="{role}">Level 5 · Newcomer</option>' in page
    form = {"csrf_token": csrf.group(1), "level": "5", "role_id": str(role)}
    response = await sheriff.post(add, form=form, headers=HTML)
    assert response.status_code == 303
    page = await _page(sheriff, url)
    assert "<td>5</td><td>Level 5 · Newcomer</td>" in page
    [reward] = await LevelReward.filter(guild_id=bot_in_demo)
    assert (reward.level, reward.role_id) == (5, role)

    duplicate = await sheriff.post(add, form=form, headers=HTML)
    assert duplicate.status_code == 409
    assert "already a reward" in await duplicate.get_data(as_text=True)
    bad = await sheriff.post(add, form=form | {"level": "501", "role_id": "x"}, headers=HTML)
    assert bad.status_code == 400
    text = await bad.get_data(as_text=True)
    assert 'id="r-role_id-error"' in text
    foreign = await sheriff.post(add, form=form | {"role_id": "222"}, headers=HTML)
    assert foreign.status_code == 400
    assert "222 is not a role of this server" in await foreign.get_data(as_text=True)
    assert await LevelReward.filter(guild_id=bot_in_demo).count() == 1

    remove = f"/dashboard/guilds/{bot_in_demo}/rewards/{reward.id}/delete"
    response = await sheriff.post(remove, form={"csrf_token": csrf.group(1)}, headers=HTML)
    assert response.status_code == 303
    assert not await LevelReward.filter(guild_id=bot_in_demo).exists()
    actions = (
        await AuditEntry.filter(guild_id=bot_in_demo)
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert list(actions) == ["level_reward.add", "level_reward.remove"]


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
    assert "XP settings" in await _page(client, url)
