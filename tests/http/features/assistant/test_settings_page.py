"""The assistant's settings page: the channels it answers in and learns from are picked from
the guild's text channels by name."""

from __future__ import annotations

import typing
import urllib.parse

from tests.support.web import HTML, form_values, page_text
from tests.support.world import channels_by_name
from townsquare.core.config.models import GuildConfigRecord

if typing.TYPE_CHECKING:
    from quart.testing import QuartClient

    from townsquare.sandbox import Sandbox


async def test_channels_are_picked_by_name(
    sheriff: QuartClient, sandbox: Sandbox, bot_in_demo: int
) -> None:
    url = f"/dashboard/guilds/{bot_in_demo}/assistant"
    page, channels = await page_text(sheriff, url), channels_by_name(sandbox, bot_in_demo)
    assert f'name="knowledge_channel_ids" value="{channels["rules"]}"> #rules' in page
    picked = {"channel_ids": ["general"], "knowledge_channel_ids": ["rules", "announcements"]}
    form = form_values(page)
    fields = [(k, v) for k, v in form.items() if k not in picked]
    fields += [(k, str(channels[name])) for k, names in picked.items() for name in names]
    fields.append(("enabled", "on"))
    response = await sheriff.post(
        url,
        data=urllib.parse.urlencode(fields),
        headers={**HTML, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 303, await response.get_data(as_text=True)
    section = (await GuildConfigRecord.get(guild_id=bot_in_demo)).document["ai"]
    assert section["enabled"] is True
    assert section["channel_ids"] == [channels["general"]]
    assert section["knowledge_channel_ids"] == [channels["rules"], channels["announcements"]]
