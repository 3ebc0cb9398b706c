"""`/alerts add|list|remove` through the sandbox, the real hikari client and the HTTP service:
the creator looked up on the loopback platform, the feed's first card, and the refusals."""

from __future__ import annotations

import typing

if typing.TYPE_CHECKING:
    from tests.support.bot import BotRunning
    from tests.support.discord import Discord
    from tests.support.streams import Streams


async def test_alerts_commands_manage_feeds_that_post_cards(
    streams: Streams, discord: Discord, bot_running: BotRunning
) -> None:
    media, streamer = streams.channel("media"), streams.role("Streamer")
    async with bot_running(url=streams.url):
        added = await discord.run(
            "mayor",
            "/alerts add",
            platform="twitch",
            creator="dorian",
            channel=media,
            role=streamer,
        )
        unknown = await discord.run(
            "mayor", "/alerts add", platform="kick", creator="nobody", channel=media
        )
        no_channel = await discord.run("mayor", "/alerts add", platform="kick", creator="elsie")
        member = await discord.run(
            "alder", "/alerts add", platform="twitch", creator="elsie", channel=media
        )
        await streams.confirmed("twitch", "dorian")
        await streams.control("/twitch/live", {"login": "dorian", "title": "Commands stream"})
        [card] = await streams.wait_cards("media", 1)
        # The free tier has 3 feeds: with two more, the next add is refused with the upgrade.
        await streams.add_feed("kick", "elsie", "media")
        await streams.add_feed("kick", "elsie", "general")
        over = await discord.run(
            "mayor", "/alerts add", platform="twitch", creator="elsie", channel=media
        )
        for feed in (await streams.api("GET", f"/guilds/{streams.guild_id}/stream-feeds"))[1][
            "feeds"
        ]:
            if feed["platform"] == "kick":
                await streams.api(
                    "POST",
                    f"/guilds/{streams.guild_id}/stream-feeds/{feed['id']}/remove",
                    {"actor_id": 1, "actor_name": "mayor"},
                )
        listed = await discord.run("mayor", "/alerts list")
        feed_id = listed.embeds[0]["description"].split("`")[1]
        removed = await discord.run("mayor", "/alerts remove", feed=int(feed_id))
        empty = await discord.run("mayor", "/alerts list")

    assert added.ephemeral
    assert added.content == (
        f"Added feed `{feed_id}`: Twitch **Dorian** goes to <#{media}>, pinging <@&{streamer}>."
    )
    assert unknown.content == "kick has no creator 'nobody': kick has no such creator"
    assert no_channel.content.startswith("Name the channel the alerts go to")
    assert member.content.startswith("Only members with the Manage Server permission")
    assert card.mention_role_ids == [streamer]
    assert over.ephemeral and over.content.startswith("3 of 3 stream feeds on Free")
    assert over.components  # Discord's premium button, or a link to the premium page
    assert "**Dorian**" in listed.embeds[0]["description"]
    assert "enabled · ok" in listed.embeds[0]["description"]
    assert removed.content == f"Removed feed `{feed_id}`."
    assert empty.embeds[0]["description"].startswith("No feeds yet")
