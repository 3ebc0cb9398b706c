"""`allowed_mentions` decides who a bot message pings, as on Discord."""

from __future__ import annotations

import typing

import hikari

from tests.support.world import channel_named, demo_guild, role_named, user_named

if typing.TYPE_CHECKING:
    import aiohttp

    from tests.support.sandbox import EventRecorder
    from townsquare.sandbox import Sandbox, SandboxInfo


async def test_allowed_mentions_filter_the_pings(
    bot: hikari.GatewayBot, sandbox: Sandbox, recorder: EventRecorder
) -> None:
    guild = demo_guild(sandbox)
    general = channel_named(guild, "general")
    wren, sage = user_named(sandbox, "wren"), user_named(sandbox, "sage")
    streamer = role_named(guild, "Streamer")
    text = f"<@{wren}> <@{sage}> <@&{streamer}> @everyone level up!"

    quiet = await bot.rest.create_message(general, text)  # hikari allows no mentions by default
    assert quiet.content == text
    assert (quiet.user_mentions_ids, quiet.role_mention_ids, quiet.mentions_everyone) == (
        [],
        [],
        False,
    )
    loud = await bot.rest.create_message(
        general, text, user_mentions=[wren], role_mentions=True, mentions_everyone=True
    )
    assert loud.user_mentions_ids == [wren]
    assert loud.role_mention_ids == [streamer]
    assert loud.mentions_everyone is True
    [event] = await recorder.wait_for(
        hikari.GuildMessageCreateEvent, lambda e: e.message_id == loud.id
    )
    assert event.message.user_mentions_ids == [wren]
    world_message = sandbox.world.messages[loud.id]
    assert (world_message.mention_ids, world_message.mention_role_ids) == ([wren], [streamer])

    edited = await bot.rest.edit_message(general, quiet, text, user_mentions=True)
    assert edited.user_mentions_ids == [wren, sage]
    assert sandbox.world.messages[quiet.id].mention_role_ids == []


async def test_exclusive_allowed_mentions_are_refused(
    sandbox: Sandbox, info: SandboxInfo, http: aiohttp.ClientSession
) -> None:
    guild = demo_guild(sandbox)
    url = f"{info.rest_url}/channels/{channel_named(guild, 'general')}/messages"
    body = {"content": "hi", "allowed_mentions": {"parse": ["users"], "users": ["1"]}}
    headers = {"Authorization": f"Bot {info.bot_token}"}
    async with http.post(url, json=body, headers=headers) as response:
        assert response.status == 400
        error = await response.json()
    assert error["code"] == 50035
    assert error["errors"]["allowed_mentions"]["_errors"][0]["code"] == (
        "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE"
    )
