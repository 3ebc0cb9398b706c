"""The real hikari client moderating through the sandbox: timeouts, nicks, bans, kicks, DMs."""

from __future__ import annotations

import datetime
import typing

import hikari
import pytest

from tests.support.sandbox import Live, inject
from tests.support.world import channel_named, demo_guild, role_named, user_named

if typing.TYPE_CHECKING:
    from tests.support.sandbox import EventRecorder
    from townsquare.sandbox import Sandbox


def soon(**delta: float) -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(**delta)


async def test_timeout_and_nick(
    bot: hikari.GatewayBot, sandbox: Sandbox, recorder: EventRecorder
) -> None:
    guild = demo_guild(sandbox)
    wren = user_named(sandbox, "wren")
    until = soon(hours=1)

    edited = await bot.rest.edit_member(
        guild.id, wren, nickname="Wrenny", communication_disabled_until=until, reason="spam"
    )
    assert edited.nickname == "Wrenny"
    assert edited.raw_communication_disabled_until is not None
    assert abs(edited.raw_communication_disabled_until - until) < datetime.timedelta(seconds=1)
    [update] = await recorder.wait_for(
        hikari.MemberUpdateEvent, lambda e: e.user_id == wren and e.member.nickname == "Wrenny"
    )
    assert update.member.raw_communication_disabled_until is not None
    assert guild.members[wren].communication_disabled_until is not None

    await bot.rest.edit_member(guild.id, wren, communication_disabled_until=None, nickname=None)
    await recorder.wait_for(
        hikari.MemberUpdateEvent,
        lambda e: e.user_id == wren and e.member.raw_communication_disabled_until is None,
    )
    assert guild.members[wren].nick is None


@pytest.mark.parametrize(
    ("username", "changes", "error", "code"),
    [
        ("wren", {"communication_disabled_until": soon(days=29)}, hikari.BadRequestError, 50035),
        ("sheriff", {"communication_disabled_until": soon(hours=1)}, hikari.ForbiddenError, 50013),
        ("ada", {"communication_disabled_until": soon(hours=1)}, hikari.ForbiddenError, 50013),
        ("mayor", {"nickname": "Boss"}, hikari.ForbiddenError, 50013),
        ("wren", {"nickname": "x" * 33}, hikari.BadRequestError, 50035),
    ],
    ids=["over-28-days", "administrator", "above-the-bot", "owner", "long-nick"],
)
async def test_member_edit_refusals(
    bot: hikari.GatewayBot,
    sandbox: Sandbox,
    username: str,
    changes: dict[str, typing.Any],
    error: type[hikari.HTTPResponseError],
    code: int,
) -> None:
    guild = demo_guild(sandbox)
    target = user_named(sandbox, username)
    with pytest.raises(error) as caught:
        await bot.rest.edit_member(guild.id, target, **changes)
    assert caught.value.code == code
    member = guild.members[target]
    assert (member.nick, member.communication_disabled_until) == (None, None)


async def test_ban_removes_member_and_messages_then_unban(live: Live) -> None:
    guild = live.guild
    general = live.channel("general")
    wren = live.user("wren")
    spam = [
        await inject(
            live.http, live.info, channel_id=str(general), author_id=str(wren), content=f"spam {n}"
        )
        for n in range(2)
    ]
    await live.recorder.wait_for(
        hikari.GuildMessageCreateEvent, lambda e: e.author_id == wren, count=2
    )

    await live.bot.rest.ban_user(guild.id, wren, delete_message_seconds=3600, reason="spam links")
    [banned] = await live.recorder.wait_for(hikari.BanCreateEvent)
    assert (banned.guild_id, banned.user.id) == (guild.id, wren)
    await live.recorder.wait_for(hikari.MemberDeleteEvent, lambda e: e.user_id == wren)
    [bulk] = await live.recorder.wait_for(hikari.GuildBulkMessageDeleteEvent)
    assert set(bulk.message_ids) == {int(m["id"]) for m in spam}
    assert wren not in guild.members
    ban = await live.bot.rest.fetch_ban(guild.id, wren)
    assert (ban.user.id, ban.reason) == (wren, "spam links")
    assert [b.user.id async for b in live.bot.rest.fetch_bans(guild.id)] == [wren]
    async with live.http.post(
        f"{live.info.control_url}/members", json={"user_id": str(wren)}
    ) as response:
        assert response.status == 403  # banned people cannot rejoin

    await live.bot.rest.unban_user(guild.id, wren)
    [unbanned] = await live.recorder.wait_for(hikari.BanDeleteEvent)
    assert unbanned.user.id == wren
    with pytest.raises(hikari.NotFoundError) as caught:
        await live.bot.rest.fetch_ban(guild.id, wren)
    assert caught.value.code == 10026


async def test_ban_and_kick_refusals(bot: hikari.GatewayBot, sandbox: Sandbox) -> None:
    guild = demo_guild(sandbox)
    with pytest.raises(hikari.BadRequestError):
        await bot.rest.ban_user(
            guild.id, user_named(sandbox, "wren"), delete_message_seconds=604_801
        )
    for username in ("ada", "mayor"):  # above the bot; the owner
        with pytest.raises(hikari.ForbiddenError):
            await bot.rest.ban_user(guild.id, user_named(sandbox, username))
        with pytest.raises(hikari.ForbiddenError):
            await bot.rest.kick_user(guild.id, user_named(sandbox, username))
    assert not guild.bans


async def test_kick(bot: hikari.GatewayBot, sandbox: Sandbox, recorder: EventRecorder) -> None:
    guild = demo_guild(sandbox)
    alder = user_named(sandbox, "alder")
    await bot.rest.kick_user(guild.id, alder, reason="rule 3")
    [kicked] = await recorder.wait_for(hikari.MemberDeleteEvent, lambda e: e.user_id == alder)
    assert kicked.guild_id == guild.id
    assert alder not in guild.members
    with pytest.raises(hikari.NotFoundError):
        await bot.rest.fetch_member(guild.id, alder)


async def test_dm_channel_and_message(
    bot: hikari.GatewayBot, sandbox: Sandbox, recorder: EventRecorder
) -> None:
    wren = user_named(sandbox, "wren")
    channel = await bot.rest.create_dm_channel(wren)
    assert isinstance(channel, hikari.DMChannel)
    assert channel.recipient.id == wren
    again = await bot.rest.create_dm_channel(wren)
    assert again.id == channel.id
    fetched = await bot.rest.fetch_channel(channel.id)
    assert isinstance(fetched, hikari.DMChannel)

    message = await bot.rest.create_message(channel.id, "You reached level 10!")
    [created] = await recorder.wait_for(
        hikari.DMMessageCreateEvent, lambda e: e.message_id == message.id
    )
    assert created.channel_id == channel.id
    assert sandbox.world.messages[message.id].guild_id is None
    with pytest.raises(hikari.NotFoundError):
        await bot.rest.create_dm_channel(12345)


async def test_roles_created_edited_and_deleted_through_rest(
    bot: hikari.GatewayBot, sandbox: Sandbox, recorder: EventRecorder
) -> None:
    guild = demo_guild(sandbox)
    role = await bot.rest.create_role(
        guild.id,
        name="Level 100 · Mythic",
        color=0x8E44AD,
        permissions=hikari.Permissions.SEND_MESSAGES,
        hoist=True,
        reason="new level reward",
    )
    assert role.position == 1
    [created] = await recorder.wait_for(hikari.RoleCreateEvent, lambda e: e.role_id == role.id)
    assert created.role.name == "Level 100 · Mythic"
    assert (await bot.rest.fetch_role(guild.id, role.id)).color == hikari.Color(0x8E44AD)

    edited = await bot.rest.edit_role(guild.id, role.id, name="Level 100")
    assert edited.name == "Level 100"
    await recorder.wait_for(hikari.RoleUpdateEvent, lambda e: e.role.name == "Level 100")
    await bot.rest.delete_role(guild.id, role.id)
    await recorder.wait_for(hikari.RoleDeleteEvent, lambda e: e.role_id == role.id)
    assert role.id not in guild.roles

    with pytest.raises(hikari.ForbiddenError):  # above the bot
        await bot.rest.edit_role(guild.id, role_named(guild, "Moderator"), name="Mods")
    with pytest.raises(hikari.ForbiddenError):  # a permission the bot lacks
        await bot.rest.create_role(
            guild.id, name="Boss", permissions=hikari.Permissions.ADMINISTRATOR
        )
    with pytest.raises(hikari.ForbiddenError):  # the bot's own managed role
        await bot.rest.delete_role(guild.id, role_named(guild, "Townsquare"))


async def test_voice_moderation_mute_move_and_disconnect(
    bot: hikari.GatewayBot, sandbox: Sandbox, recorder: EventRecorder
) -> None:
    guild = demo_guild(sandbox)
    dorian = user_named(sandbox, "dorian")  # in the Lounge from the start
    music = channel_named(guild, "Music")

    def of_dorian(event: hikari.VoiceStateUpdateEvent) -> bool:
        return event.state.user_id == dorian

    await bot.rest.edit_member(guild.id, dorian, mute=True, voice_channel=music)
    [moved] = await recorder.wait_for(hikari.VoiceStateUpdateEvent, of_dorian)
    assert moved.state.channel_id == music and moved.state.is_guild_muted
    await bot.rest.edit_member(guild.id, dorian, voice_channel=None)
    left = (await recorder.wait_for(hikari.VoiceStateUpdateEvent, of_dorian, count=2))[-1]
    assert left.state.channel_id is None
    with pytest.raises(hikari.BadRequestError) as caught:  # no longer in voice
        await bot.rest.edit_member(guild.id, dorian, mute=False)
    assert caught.value.code == 40032
    with pytest.raises(hikari.BadRequestError):  # not a voice channel
        await bot.rest.edit_member(
            guild.id, user_named(sandbox, "harper"), voice_channel=channel_named(guild, "general")
        )


async def test_bulk_delete_purges_recent_messages(live: Live) -> None:
    guild = live.guild
    general = live.channel("general")
    author = str(live.user("thorn"))
    spam = [
        int(
            (
                await inject(
                    live.http, live.info, channel_id=str(general), author_id=author, content="buy"
                )
            )["id"]
        )
        for _ in range(3)
    ]
    await live.bot.rest.delete_messages(general, spam)
    [purged] = await live.recorder.wait_for(hikari.GuildBulkMessageDeleteEvent)
    assert set(purged.message_ids) == set(spam)
    assert not set(spam) & set(live.sandbox.world.messages)
    with pytest.raises(hikari.BulkDeleteError) as caught:  # snowflakes from 2024: too old
        await live.bot.rest.delete_messages(general, [guild.id, guild.id + 1])
    cause = caught.value.__cause__
    assert isinstance(cause, hikari.BadRequestError)
    assert cause.code == 50034
