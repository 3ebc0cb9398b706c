"""The command access dashboard page: bot manager roles picked from the guild's roles,
refused beside the field when not the guild's, typed as ids without Discord."""

from __future__ import annotations

import json
import re
import typing
import urllib.parse

from tests.support.web import (
    HTML,
    cut_off_discord,
    form_values,
    page_text,
)
from tests.support.world import roles_by_name
from townsquare.core.config.models import GuildConfigRecord
from townsquare.http.guild_lookups import FAILURE_SECONDS
from townsquare.http.state import state_of

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis
    from quart import Quart
    from quart.testing import QuartClient

    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox


async def _post_roles(
    client: QuartClient, url: str, page: str, role_ids: list[str]
) -> tuple[int, str]:
    """Post the command access form with `role_ids` ticked (or typed), as a browser would."""
    form = form_values(page)
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
    roles = roles_by_name(sandbox, bot_in_demo)
    url = f"/dashboard/guilds/{bot_in_demo}/commands"
    page = await page_text(sheriff, url)
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
    page = await page_text(sheriff, url)
    assert f'value="{roles["Moderator"]}" checked>' in page
    assert f'value="{roles["Admin"]}">' in page  # not ticked


async def test_a_role_not_of_the_guild_is_refused_beside_the_field(
    sheriff: QuartClient, sandbox: Sandbox, bot_in_demo: int
) -> None:
    roles = roles_by_name(sandbox, bot_in_demo)
    url = f"/dashboard/guilds/{bot_in_demo}/commands"
    page = await page_text(sheriff, url)
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
    await page_text(sheriff, "/dashboard")  # the manage check is cached for the session
    working = cut_off_discord(app)
    url = f"/dashboard/guilds/{bot_in_demo}/commands"
    page = await page_text(sheriff, url)
    assert "Discord could not be asked for this server's roles" in page
    # The failure is remembered for a few seconds: pages do not wait on Discord each time.
    state_of(app).discord = working
    assert "Discord could not be asked" in await page_text(sheriff, url)
    remembered = keyspace.key("guild_roles", bot_in_demo)
    assert await redis.get(remembered) == b"null"
    assert 0 < await redis.ttl(remembered) <= FAILURE_SECONDS
    form = form_values(page)
    form["manager_role_ids"] = "222, 111"
    response = await sheriff.post(url, form=form, headers=HTML)
    assert response.status_code == 303  # typed ids are taken as they are
    row = await GuildConfigRecord.get(guild_id=bot_in_demo)
    assert row.document["commands"] == {"manager_role_ids": [222, 111]}
