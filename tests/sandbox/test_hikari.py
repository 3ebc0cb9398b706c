"""The real `hikari.GatewayBot` against the sandbox: handshake, events, REST, faults."""

from __future__ import annotations

import asyncio
import datetime
import typing

import hikari
import pytest
from hikari.impl import GatewayShardImpl

from tests.support.sandbox import EventRecorder, Live, inject, make_bot, use_command
from tests.support.world import channel_named, demo_guild, role_named, user_named
from townsquare.sandbox import Sandbox

if typing.TYPE_CHECKING:
    import aiohttp

    from townsquare.sandbox import SandboxInfo


async def test_ready_and_guild_create_fill_the_cache(
    bot: hikari.GatewayBot, sandbox: Sandbox, recorder: EventRecorder
) -> None:
    guild = demo_guild(sandbox)
    await recorder.wait_for(hikari.GuildAvailableEvent)
    me = bot.get_me()
    assert me is not None
    assert me.id == sandbox.world.application.bot_user_id
    cached = bot.cache.get_guild(guild.id)
    assert cached is not None
    assert cached.name == "Town Square Demo"
    assert cached.afk_channel_id == channel_named(guild, "AFK")
    roles = bot.cache.get_roles_view_for_guild(guild.id)
    assert {r.name for r in roles.values()} >= {
        "@everyone",
        "Moderator",
        "Townsquare",
        "Level 5 · Newcomer",
    }
    assert (
        roles[role_named(guild, "Moderator")].position
        > roles[role_named(guild, "Townsquare")].position
    )
    channels = bot.cache.get_guild_channels_view_for_guild(guild.id)
    assert isinstance(channels[channel_named(guild, "general")], hikari.GuildTextChannel)
    assert isinstance(channels[channel_named(guild, "Lounge")], hikari.GuildVoiceChannel)
    assert isinstance(channels[channel_named(guild, "Community")], hikari.GuildCategory)
    states = bot.cache.get_voice_states_view_for_guild(guild.id)
    assert user_named(sandbox, "dorian") in states
    # GUILD_MEMBERS without GUILD_PRESENCES: hikari chunks the rest of the members.
    await recorder.wait_for(hikari.MemberChunkEvent)
    assert len(bot.cache.get_members_view_for_guild(guild.id)) == len(guild.members)


async def test_injected_message_arrives_as_guild_message_create_event(live: Live) -> None:
    guild = live.guild
    general = live.channel("general")
    wren = live.user("wren")
    sent = await inject(
        live.http, live.info, channel_id=str(general), author_id=str(wren), content="hello, town"
    )

    [event] = await live.recorder.wait_for(
        hikari.GuildMessageCreateEvent, lambda e: e.message_id == int(sent["id"])
    )
    assert event.guild_id == guild.id
    assert event.channel_id == general
    assert event.author_id == wren
    assert event.author.username == "wren"
    assert event.content == "hello, town"
    assert event.member is not None
    assert live.role("Level 5 · Newcomer") in event.member.role_ids


async def test_rest_message_changes_the_world_and_emits_events(
    bot: hikari.GatewayBot, sandbox: Sandbox, recorder: EventRecorder
) -> None:
    guild = demo_guild(sandbox)
    general = channel_named(guild, "general")

    message = await bot.rest.create_message(general, "Welcome to the square!")
    assert message.author.id == sandbox.world.application.bot_user_id
    assert sandbox.world.messages[message.id].content == "Welcome to the square!"
    [created] = await recorder.wait_for(
        hikari.GuildMessageCreateEvent, lambda e: e.message_id == message.id
    )
    assert created.is_bot

    edited = await bot.rest.edit_message(general, message, "Welcome, everyone!")
    assert edited.edited_timestamp is not None
    await recorder.wait_for(hikari.GuildMessageUpdateEvent, lambda e: e.message_id == message.id)
    fetched = await bot.rest.fetch_message(general, message.id)
    assert fetched.content == "Welcome, everyone!"

    await bot.rest.delete_message(general, message)
    await recorder.wait_for(hikari.GuildMessageDeleteEvent, lambda e: e.message_id == message.id)
    assert message.id not in sandbox.world.messages
    with pytest.raises(hikari.NotFoundError):
        await bot.rest.fetch_message(general, message.id)


async def test_rest_role_change_updates_member_and_emits_member_update(
    bot: hikari.GatewayBot, sandbox: Sandbox, recorder: EventRecorder
) -> None:
    guild = demo_guild(sandbox)
    wren = user_named(sandbox, "wren")
    level_10 = role_named(guild, "Level 10 · Familiar Face")

    await bot.rest.add_role_to_member(guild.id, wren, level_10, reason="reached level 10")
    assert level_10 in guild.members[wren].role_ids
    [update] = await recorder.wait_for(
        hikari.MemberUpdateEvent, lambda e: e.user_id == wren and level_10 in e.member.role_ids
    )
    assert update.guild_id == guild.id
    member = await bot.rest.fetch_member(guild.id, wren)
    assert level_10 in member.role_ids

    await bot.rest.remove_role_from_member(guild.id, wren, level_10)
    await recorder.wait_for(
        hikari.MemberUpdateEvent, lambda e: e.user_id == wren and level_10 not in e.member.role_ids
    )
    assert level_10 not in guild.members[wren].role_ids


async def test_role_above_the_bot_is_forbidden(bot: hikari.GatewayBot, sandbox: Sandbox) -> None:
    guild = demo_guild(sandbox)
    wren = user_named(sandbox, "wren")
    with pytest.raises(hikari.ForbiddenError) as caught:
        await bot.rest.add_role_to_member(guild.id, wren, role_named(guild, "Moderator"))
    assert caught.value.code == 50013
    assert role_named(guild, "Moderator") not in guild.members[wren].role_ids


async def test_rest_reads(bot: hikari.GatewayBot, sandbox: Sandbox) -> None:
    guild = demo_guild(sandbox)
    fetched = await bot.rest.fetch_guild(guild.id)
    assert fetched.name == "Town Square Demo"
    assert fetched.approximate_member_count == len(guild.members)
    assert len(await bot.rest.fetch_guild_channels(guild.id)) == len(guild.channels)
    assert len(await bot.rest.fetch_roles(guild.id)) == len(guild.roles)
    members = [m async for m in bot.rest.fetch_members(guild.id)]
    assert len(members) == len(guild.members)
    found = await bot.rest.search_members(guild.id, "Sh")  # sheriff, by username
    assert [m.username for m in found] == ["sheriff"]
    me = await bot.rest.fetch_my_user()
    assert me.id == sandbox.world.application.bot_user_id
    application = await bot.rest.fetch_application()
    assert application.id == sandbox.world.application.id
    channel = await bot.rest.fetch_channel(channel_named(guild, "general"))
    assert isinstance(channel, hikari.GuildTextChannel)
    with pytest.raises(hikari.NotFoundError):
        await bot.rest.fetch_channel(12345)
    with pytest.raises(hikari.ForbiddenError):
        await bot.rest.create_message(channel_named(guild, "rules"), "no posting here")


def wrong_token(info: SandboxInfo) -> str:
    """Well-formed (hikari parses the id out of it) but not the sandbox's token."""
    return info.bot_token.rsplit(".", 1)[0] + ".not-the-secret"


async def test_bad_token_is_refused_by_rest(info: SandboxInfo) -> None:
    client = make_bot(info, token=wrong_token(info))
    try:
        with pytest.raises(hikari.UnauthorizedError):
            await client.start(check_for_updates=False)
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("token", "intents", "code"),
    [
        ("wrong", hikari.Intents.ALL_UNPRIVILEGED, 4004),
        (None, hikari.Intents.ALL_UNPRIVILEGED | hikari.Intents.GUILD_PRESENCES, 4014),
    ],
    ids=["bad-token", "disallowed-intent"],
)
async def test_gateway_refusals_raise_in_hikari(
    info: SandboxInfo, token: str | None, intents: hikari.Intents, code: int
) -> None:
    helper = make_bot(info)
    shard = GatewayShardImpl(
        http_settings=helper.http_settings,
        proxy_settings=helper.proxy_settings,
        event_manager=helper.event_manager,
        event_factory=helper.event_factory,
        intents=intents,
        token=wrong_token(info) if token == "wrong" else info.bot_token,
        url=info.gateway_url,
        shard_id=0,
        shard_count=1,
    )
    with pytest.raises(hikari.GatewayServerClosedConnectionError) as caught:
        await shard.start()
    assert caught.value.code == code
    assert not caught.value.can_reconnect


async def test_resume_after_drop_delivers_missed_events_exactly_once(live: Live) -> None:
    general = live.channel("general")
    author = str(live.user("sage"))
    before = await inject(
        live.http, live.info, channel_id=str(general), author_id=author, content="before"
    )
    await live.recorder.wait_for(
        hikari.GuildMessageCreateEvent, lambda e: e.message_id == int(before["id"])
    )

    async with live.http.post(
        f"{live.info.control_url}/gateway/drop", json={"shard_id": 0}
    ) as response:
        assert (await response.json()) == {"dropped": 1}
    missed = [
        await inject(
            live.http, live.info, channel_id=str(general), author_id=author, content=f"missed {n}"
        )
        for n in range(3)
    ]
    await live.recorder.wait_for(hikari.ShardResumedEvent)
    after = await inject(
        live.http, live.info, channel_id=str(general), author_id=author, content="after"
    )
    await live.recorder.wait_for(
        hikari.GuildMessageCreateEvent, lambda e: e.message_id == int(after["id"])
    )

    received = [(e.message_id, e.content) for e in live.recorder.of(hikari.GuildMessageCreateEvent)]
    assert received == [(int(m["id"]), m["content"]) for m in (before, *missed, after)]
    assert len(live.recorder.of(hikari.ShardReadyEvent)) == 1
    assert len(live.sandbox.hub.sessions) == 1


async def test_reconnect_and_resumable_invalid_session_are_resumed(
    bot: hikari.GatewayBot, info: SandboxInfo, recorder: EventRecorder, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{info.control_url}/gateway/reconnect", json={}) as response:
        assert (await response.json()) == {"sent": 1}
    await recorder.wait_for(hikari.ShardResumedEvent)
    async with http.post(
        f"{info.control_url}/gateway/invalid-session", json={"resumable": True}
    ) as response:
        assert (await response.json()) == {"sent": 1}
    await recorder.wait_for(hikari.ShardResumedEvent, count=2)
    assert len(recorder.of(hikari.ShardReadyEvent)) == 1


async def test_invalid_session_not_resumable_makes_hikari_identify_again(live: Live) -> None:
    [first] = live.sandbox.hub.sessions
    async with live.http.post(
        f"{live.info.control_url}/gateway/invalid-session", json={"resumable": False}
    ) as response:
        assert (await response.json()) == {"sent": 1}
    await live.recorder.wait_for(hikari.ShardReadyEvent, count=2)
    assert first not in live.sandbox.hub.sessions
    assert len(live.sandbox.hub.sessions) == 1
    assert not live.recorder.of(hikari.ShardResumedEvent)


async def test_slash_command_answered_in_time_posts_the_reply(live: Live) -> None:
    guild = live.guild
    channel = live.channel("bot-commands")
    wren = live.user("wren")

    async def answer(event: hikari.InteractionCreateEvent) -> None:
        assert isinstance(event.interaction, hikari.CommandInteraction)
        await event.interaction.create_initial_response(
            hikari.ResponseType.MESSAGE_CREATE, f"pong, {event.interaction.user.username}"
        )

    live.bot.subscribe(hikari.InteractionCreateEvent, answer)
    options = [{"name": "user", "type": 6, "value": str(wren)}]
    used = await live.use(wren, "rank", channel, options=options)

    [event] = await live.recorder.wait_for(hikari.InteractionCreateEvent)
    interaction = event.interaction
    assert isinstance(interaction, hikari.CommandInteraction)
    assert interaction.id == int(used["id"])
    assert interaction.command_name == "rank"
    assert interaction.guild_id == guild.id
    assert interaction.channel.id == channel
    assert interaction.member is not None
    assert interaction.member.id == wren
    assert interaction.options[0].name == "user"
    assert interaction.options[0].value == wren
    [reply] = await live.recorder.wait_for(
        hikari.GuildMessageCreateEvent, lambda e: e.content == "pong, wren"
    )
    assert reply.message.type is hikari.MessageType.CHAT_INPUT
    record = live.sandbox.world.interactions[interaction.id]
    assert record.response_type == 4
    assert record.response_message_id == reply.message_id


async def test_slash_command_answered_after_three_seconds_fails(
    http: aiohttp.ClientSession,
) -> None:
    now = [datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)]
    async with Sandbox(clock=lambda: now[0]) as info:
        failure: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

        async def answer_late(event: hikari.InteractionCreateEvent) -> None:
            assert isinstance(event.interaction, hikari.CommandInteraction)
            now[0] += datetime.timedelta(seconds=3.5)
            try:
                await event.interaction.create_initial_response(
                    hikari.ResponseType.MESSAGE_CREATE, "too late"
                )
            except hikari.HTTPError as exc:
                failure.set_result(exc)

        client = make_bot(info)
        client.subscribe(hikari.InteractionCreateEvent, answer_late)
        await client.start(check_for_updates=False)
        try:
            guild = next(iter(client.cache.get_guilds_view().values()))
            channel = next(c for c in guild.get_channels().values() if c.name == "general")
            user = next(m for m in guild.get_members() if m != client.get_me().id)
            await use_command(
                http, info, channel_id=str(channel.id), user_id=str(user), name="rank"
            )
            error = await asyncio.wait_for(failure, timeout=10)
        finally:
            await client.close()
    assert isinstance(error, hikari.NotFoundError)
    assert error.code == 10062


async def test_withheld_heartbeat_acks_make_hikari_reconnect_and_resume(
    http: aiohttp.ClientSession,
) -> None:
    from townsquare.sandbox import SandboxSettings
    from townsquare.sandbox.gateway import GatewaySettings

    # A generous timeout factor: under load, hikari's 200 ms beats may run late.
    gateway = GatewaySettings(heartbeat_interval_ms=200, heartbeat_timeout_factor=20)
    settings = SandboxSettings(gateway=gateway)
    sandbox = Sandbox(settings=settings)
    recorder = EventRecorder()
    async with sandbox as info:
        client = make_bot(info)
        client.subscribe(hikari.Event, recorder.record)
        await client.start(check_for_updates=False)
        try:
            await recorder.wait_for(hikari.GuildAvailableEvent)
            async with http.post(
                f"{info.control_url}/gateway/withhold-acks", json={"shard_id": 0}
            ) as response:
                assert (await response.json()) == {"connections": 1}
            await recorder.wait_for(hikari.ShardResumedEvent)
            # The new connection answers heartbeats again, and events flow.
            guild = demo_guild(sandbox)
            sent = await inject(
                http,
                info,
                channel_id=str(channel_named(guild, "general")),
                author_id=str(user_named(sandbox, "sage")),
                content="still here",
            )
            await recorder.wait_for(
                hikari.GuildMessageCreateEvent, lambda e: e.message_id == int(sent["id"])
            )
            assert len(recorder.of(hikari.ShardReadyEvent)) == 1
        finally:
            await client.close()
