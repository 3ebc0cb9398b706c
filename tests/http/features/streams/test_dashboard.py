"""The live alerts page: the section's defaults, the feeds with their health, adding one (the
creator looked up on the sandbox's loopback platform), refusals beside the form, the premium
limit, removing."""

from __future__ import annotations

import typing

from tests.support.web import HTML, page_text
from tests.support.world import channels_by_name, roles_by_name
from townsquare.core.audit.models import AuditEntry
from townsquare.features.streams.domain.models import Creator, Feed

if typing.TYPE_CHECKING:
    from quart.testing import QuartClient

    from townsquare.sandbox import Sandbox


async def test_feeds_are_added_listed_refused_and_removed(
    sheriff: QuartClient, admin: str, sandbox: Sandbox, bot_in_demo: int
) -> None:
    page_url = f"/dashboard/guilds/{bot_in_demo}/alerts"
    add_url = f"/dashboard/guilds/{bot_in_demo}/stream-feeds"
    page = await page_text(sheriff, page_url)
    assert "No feeds yet." in page and "Default text of new feeds" in page
    channels = channels_by_name(sandbox, bot_in_demo)
    streamer = roles_by_name(sandbox, bot_in_demo)["Streamer"]
    form = {
        "csrf_token": admin,
        "platform": "twitch",
        "creator": "https://www.twitch.tv/dorian",
        "channel_id": str(channels["media"]),
        "role_id": str(streamer),
    }
    response = await sheriff.post(add_url, form=form, headers=HTML)
    assert response.status_code == 303, await response.get_data(as_text=True)
    page = await page_text(sheriff, page_url)
    assert "Dorian" in page and "#media" in page and "@Streamer" in page
    assert "Waiting for the platform to confirm" in page
    assert (await Creator.get(login="dorian")).platform_id  # Twitch's id, from Helix
    assert await AuditEntry.filter(guild_id=bot_in_demo, action="stream_feed.add").count() == 1

    refused = await sheriff.post(add_url, form=form | {"creator": "nobody_here"}, headers=HTML)
    assert refused.status_code == 404
    assert "twitch has no such creator" in await refused.get_data(as_text=True)
    again = await sheriff.post(add_url, form=form, headers=HTML)
    assert again.status_code == 409
    assert "already posts here" in await again.get_data(as_text=True)

    # The free tier has 3 feeds: two more fit, the fourth is refused with the gate's words.
    for creator, channel in (("elsie", "media"), ("dorian", "general")):
        more = form | {"creator": creator, "channel_id": str(channels[channel])}
        assert (await sheriff.post(add_url, form=more, headers=HTML)).status_code == 303
    fourth = form | {"creator": "elsie", "channel_id": str(channels["general"])}
    over = await sheriff.post(add_url, form=fourth, headers=HTML)
    assert over.status_code == 402
    assert "3 of 3 stream feeds on Free" in await over.get_data(as_text=True)

    feed = await Feed.filter(guild_id=bot_in_demo).order_by("id").first()
    assert feed is not None
    delete = f"/dashboard/guilds/{bot_in_demo}/stream-feeds/{feed.id}/delete"
    removed = await sheriff.post(delete, form={"csrf_token": admin}, headers=HTML)
    assert removed.status_code == 303
    assert await Feed.filter(guild_id=bot_in_demo).count() == 2
