"""The public leaderboard page, `/leaderboard/<guild id>`: off by default (404, no data),
switched on on the Levels page, paginated, with names from Discord, and served from the same
cache as `/public/v1`'s leaderboard."""

from __future__ import annotations

import json
import re
import typing

from tests.support.web import HTML, form_values, page_text
from townsquare.core.config.models import GuildConfigRecord

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis
    from quart.testing import QuartClient

    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox

UNKNOWN_GUILD = 987_654_321_987_654_399


async def _switch(client: QuartClient, guild_id: int, *, on: bool) -> None:
    url = f"/dashboard/guilds/{guild_id}/levels"
    form = form_values(await page_text(client, url))
    form.pop("public_leaderboard", None)
    if on:
        form["public_leaderboard"] = "on"
    response = await client.post(url, form=form, headers=HTML)
    assert response.status_code == 303, await response.get_data(as_text=True)


async def test_the_public_leaderboard_page_is_off_until_switched_on_and_pages_members(
    sheriff: QuartClient,
    bot_in_demo: int,
    redis: aioredis.Redis,
    keyspace: Keyspace,
    sandbox: Sandbox,
) -> None:
    world = sandbox.world
    named = [
        m for m in world.guilds[bot_in_demo].members.values() if not world.users[m.user_id].bot
    ]
    xp = {member.user_id: 10_000 - 10 * n for n, member in enumerate(named[:5])}
    xp |= {9_000_000_000_000_000 + n: 100 + n for n in range(20)}  # not in the guild
    await redis.hset(keyspace.key("xp", bot_in_demo), mapping={str(u): v for u, v in xp.items()})
    url = f"/leaderboard/{bot_in_demo}"

    # Off by default: 404, and nothing of the guild's data; an unknown guild gets no row.
    for address in (url, f"/leaderboard/{UNKNOWN_GUILD}"):
        off = await sheriff.get(address)
        assert off.status_code == 404
        text = await off.get_data(as_text=True)
        assert "10,000" not in text and str(named[0].user_id) not in text
    assert not await GuildConfigRecord.filter(guild_id=UNKNOWN_GUILD).exists()
    assert await redis.get(keyspace.key("public_leaderboard", bot_in_demo, 1, 20)) is None

    world.users[named[1].user_id].avatar = "a1b2c3"  # the others have none: their initial
    await _switch(sheriff, bot_in_demo, on=True)
    first = await sheriff.get(url)
    assert first.status_code == 200
    page = await first.get_data(as_text=True)
    ranks = re.findall(r"<tr>\s*<td>(\d+)</td>", page)
    assert ranks == [str(n) for n in range(1, 21)]
    top = world.users[named[0].user_id]
    assert (named[0].nick or top.global_name or top.username) in page
    assert "10,000" in page and "<progress" in page and "Page 1 of 2" in page
    assert 'rel="next" href="?page=2"' in page
    # Avatars come through this service (the pages' CSP admits only its own images).
    avatar = f"/leaderboard/{bot_in_demo}/avatars/{named[1].user_id}.png"
    assert f'src="{avatar}"' in page and "cdn.discordapp.com" not in page
    assert page.count('<svg class="avatar"') == 19
    for address in (
        f"/leaderboard/{bot_in_demo}/avatars/{named[0].user_id}.png",  # no avatar
        f"/leaderboard/{bot_in_demo}/avatars/{UNKNOWN_GUILD}.png",  # not ranked
    ):
        assert (await sheriff.get(address)).status_code == 404
    second = await (await sheriff.get(url, query_string={"page": "2"})).get_data(as_text=True)
    assert re.findall(r"<tr>\s*<td>(\d+)</td>", second) == ["21", "22", "23", "24", "25"]
    assert "Member 0000" in second  # not in the guild: no name from Discord
    assert (await sheriff.get(url, query_string={"page": "3"})).status_code == 404

    # The same cache as /public/v1's leaderboard: what it holds is what the page shows.
    key = keyspace.key("public_leaderboard", bot_in_demo, 1, 20)
    cached = json.loads(await redis.get(key))
    assert cached["ranked"] == 25 and cached["per_page"] == 20
    cached["entries"][0]["xp"] = 123_456
    await redis.set(key, json.dumps(cached), ex=10)
    assert "123,456" in await (await sheriff.get(url)).get_data(as_text=True)

    await _switch(sheriff, bot_in_demo, on=False)
    assert (await sheriff.get(url)).status_code == 404
