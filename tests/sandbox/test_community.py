"""Control-injected community changes arrive in the real `hikari.GatewayBot` as the right events.

Voice (join, mute, deafen, leave), members joining and leaving, roles created, changed and
deleted, and button clicks answered by updating the message.
"""

from __future__ import annotations

import typing

import hikari

from tests.support.sandbox import Live, control
from tests.support.world import channel_named, demo_guild, user_named

if typing.TYPE_CHECKING:
    import aiohttp

    from tests.support.sandbox import EventRecorder
    from townsquare.sandbox import Sandbox, SandboxInfo


async def test_voice_join_mute_deafen_and_leave(live: Live) -> None:
    guild = live.guild
    await live.recorder.wait_for(hikari.GuildAvailableEvent)
    wren, lounge = live.user("wren"), live.channel("Lounge")
    music = live.channel("Music")

    def of_wren(event: hikari.VoiceStateUpdateEvent) -> bool:
        return event.state.user_id == wren

    await control(
        live.http, live.info, "POST", "/voice", {"user_id": str(wren), "channel_id": str(lounge)}
    )
    [joined] = await live.recorder.wait_for(hikari.VoiceStateUpdateEvent, of_wren)
    assert joined.guild_id == guild.id
    assert joined.state.channel_id == lounge
    assert joined.old_state is None
    assert joined.state.member.username == "wren"
    assert not joined.state.is_self_muted

    await control(live.http, live.info, "POST", "/voice", {"user_id": str(wren), "self_mute": True})
    await control(live.http, live.info, "POST", "/voice", {"user_id": str(wren), "deaf": True})
    await control(
        live.http, live.info, "POST", "/voice", {"user_id": str(wren), "channel_id": str(music)}
    )
    events = await live.recorder.wait_for(hikari.VoiceStateUpdateEvent, of_wren, count=4)
    muted, deafened, moved = (e.state for e in events[1:])
    assert muted.is_self_muted and not muted.is_guild_deafened
    assert deafened.is_guild_deafened and deafened.is_self_muted
    assert moved.channel_id == music and moved.is_guild_deafened
    assert live.bot.cache.get_voice_state(guild.id, wren).channel_id == music  # type: ignore[union-attr]

    await control(
        live.http, live.info, "POST", "/voice", {"user_id": str(wren), "channel_id": None}
    )
    left = (await live.recorder.wait_for(hikari.VoiceStateUpdateEvent, of_wren, count=5))[-1]
    assert left.state.channel_id is None
    assert left.old_state is not None and left.old_state.channel_id == music
    assert live.bot.cache.get_voice_state(guild.id, wren) is None
    assert wren not in guild.voice_states


async def test_voice_refusals(
    sandbox: Sandbox, info: SandboxInfo, http: aiohttp.ClientSession
) -> None:
    guild = demo_guild(sandbox)
    gaming = str(channel_named(guild, "Gaming"))  # user limit 5, one member in it
    wren = str(user_named(sandbox, "wren"))
    await control(http, info, "POST", "/voice", {"user_id": wren, "self_mute": True}, 400)
    general = str(channel_named(guild, "general"))
    await control(http, info, "POST", "/voice", {"user_id": wren, "channel_id": general}, 404)
    for name in ("alder", "bryony", "cedar", "dahlia"):
        body = {"user_id": str(user_named(sandbox, name)), "channel_id": gaming}
        await control(http, info, "POST", "/voice", body)
    await control(http, info, "POST", "/voice", {"user_id": wren, "channel_id": gaming}, 409)


async def test_member_join_and_leave(live: Live) -> None:
    guild = live.guild
    await live.recorder.wait_for(hikari.GuildAvailableEvent)
    joined = await control(live.http, live.info, "POST", "/members", {"username": "newcomer"})
    newcomer = int(joined["user"]["id"])
    [added] = await live.recorder.wait_for(
        hikari.MemberCreateEvent, lambda e: e.user_id == newcomer
    )
    assert added.guild_id == guild.id
    assert added.member.username == "newcomer"
    assert added.member.role_ids == [guild.id]  # hikari adds @everyone
    assert live.bot.cache.get_member(guild.id, newcomer) is not None
    await control(live.http, live.info, "POST", "/members", {"username": "newcomer"}, 409)

    lounge = str(live.channel("Lounge"))
    await control(
        live.http, live.info, "POST", "/voice", {"user_id": str(newcomer), "channel_id": lounge}
    )
    await control(live.http, live.info, "POST", "/members/leave", {"user_id": str(newcomer)})
    [removed] = await live.recorder.wait_for(
        hikari.MemberDeleteEvent, lambda e: e.user_id == newcomer
    )
    assert removed.guild_id == guild.id
    assert removed.user.username == "newcomer"
    assert removed.old_member is not None
    voice = live.recorder.of(hikari.VoiceStateUpdateEvent)
    assert voice[-1].state.user_id == newcomer and voice[-1].state.channel_id is None
    assert newcomer not in guild.members
    assert live.bot.cache.get_member(guild.id, newcomer) is None

    # The same person can come back; they are a known user now.
    await control(live.http, live.info, "POST", "/members", {"user_id": str(newcomer)})
    await live.recorder.wait_for(hikari.MemberCreateEvent, lambda e: e.user_id == newcomer, count=2)


async def test_roles_created_changed_and_deleted(live: Live) -> None:
    guild = live.guild
    await live.recorder.wait_for(hikari.GuildAvailableEvent)
    muted_position = guild.roles[live.role("Muted")].position
    body = {"name": "Event Host", "permissions": ["MANAGE_MESSAGES"], "color": 0x00FF00}
    created = await control(live.http, live.info, "POST", "/roles", body)
    role_id = int(created["id"])
    [event] = await live.recorder.wait_for(hikari.RoleCreateEvent, lambda e: e.role_id == role_id)
    assert event.guild_id == guild.id
    assert event.role.name == "Event Host"
    assert event.role.position == 1
    assert event.role.permissions == hikari.Permissions.MANAGE_MESSAGES
    assert event.role.color == hikari.Color(0x00FF00)
    # Roles at or above the new one moved up, and were announced.
    [moved] = await live.recorder.wait_for(
        hikari.RoleUpdateEvent, lambda e: e.role_id == live.role("Muted")
    )
    assert moved.role.position == muted_position + 1

    await control(
        live.http, live.info, "PATCH", f"/roles/{role_id}", {"name": "Host", "hoist": True}
    )
    [updated] = await live.recorder.wait_for(hikari.RoleUpdateEvent, lambda e: e.role_id == role_id)
    assert updated.role.name == "Host" and updated.role.is_hoisted
    assert updated.old_role is not None and updated.old_role.name == "Event Host"

    await control(live.http, live.info, "DELETE", f"/roles/{role_id}", {})
    [deleted] = await live.recorder.wait_for(hikari.RoleDeleteEvent, lambda e: e.role_id == role_id)
    assert deleted.guild_id == guild.id
    assert live.bot.cache.get_role(role_id) is None
    townsquare = live.role("Townsquare")
    await control(live.http, live.info, "DELETE", f"/roles/{townsquare}", {}, 400)


async def test_button_click_arrives_and_updates_the_message(live: Live) -> None:
    guild = live.guild
    general = live.channel("general")
    wren = live.user("wren")
    row = live.bot.rest.build_message_action_row()
    row.add_interactive_button(hikari.ButtonStyle.PRIMARY, "poll:yes", label="Yes")
    row.add_interactive_button(
        hikari.ButtonStyle.SECONDARY, "poll:no", label="No", is_disabled=True
    )
    message = await live.bot.rest.create_message(general, "Pizza on Friday?", component=row)

    async def answer(event: hikari.InteractionCreateEvent) -> None:
        assert isinstance(event.interaction, hikari.ComponentInteraction)
        await event.interaction.create_initial_response(
            hikari.ResponseType.MESSAGE_UPDATE, "Pizza on Friday? 1 yes", components=[]
        )

    live.bot.subscribe(hikari.InteractionCreateEvent, answer)
    body = {"message_id": str(message.id), "user_id": str(wren), "custom_id": "poll:yes"}
    clicked = await control(live.http, live.info, "POST", "/interactions/components", body)

    [event] = await live.recorder.wait_for(hikari.InteractionCreateEvent)
    interaction = event.interaction
    assert isinstance(interaction, hikari.ComponentInteraction)
    assert interaction.id == int(clicked["id"])
    assert interaction.type is hikari.InteractionType.MESSAGE_COMPONENT
    assert interaction.custom_id == "poll:yes"
    assert interaction.component_type is hikari.ComponentType.BUTTON
    assert interaction.message.id == message.id
    assert interaction.message.content == "Pizza on Friday?"
    assert interaction.member is not None and interaction.member.id == wren
    assert interaction.guild_id == guild.id
    assert interaction.channel.id == general

    [update] = await live.recorder.wait_for(
        hikari.GuildMessageUpdateEvent, lambda e: e.message_id == message.id
    )
    assert update.content == "Pizza on Friday? 1 yes"
    assert live.sandbox.world.messages[message.id].components == []
    record = live.sandbox.world.interactions[interaction.id]
    assert (record.response_type, record.response_message_id) == (7, message.id)

    body["custom_id"] = "poll:no"
    await control(
        live.http, live.info, "POST", "/interactions/components", body, 404
    )  # components gone


async def test_the_bot_joins_and_leaves_voice_with_op_4(
    bot: hikari.GatewayBot, sandbox: Sandbox, recorder: EventRecorder
) -> None:
    guild = demo_guild(sandbox)
    await recorder.wait_for(hikari.GuildAvailableEvent)
    me = sandbox.world.application.bot_user_id
    music = channel_named(guild, "Music")

    def of_bot(event: hikari.VoiceStateUpdateEvent) -> bool:
        return event.state.user_id == me

    await bot.update_voice_state(guild.id, music, self_deaf=True)
    [joined] = await recorder.wait_for(hikari.VoiceStateUpdateEvent, of_bot)
    assert joined.state.channel_id == music
    assert joined.state.is_self_deafened
    assert guild.voice_states[me].channel_id == music
    await bot.update_voice_state(guild.id, None)
    left = (await recorder.wait_for(hikari.VoiceStateUpdateEvent, of_bot, count=2))[-1]
    assert left.state.channel_id is None
    assert me not in guild.voice_states
