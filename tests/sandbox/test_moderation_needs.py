"""Moderation's needs of the sandbox, through the real hikari client: the bot's DMs reach only
users who share a server with it and have not closed their DMs (Discord's 50007 otherwise), and
the verification level changes only with Manage Server."""

from __future__ import annotations

import typing

import hikari
import pytest

from tests.support.sandbox import control
from tests.support.world import demo_guild, user_named
from townsquare.sandbox.world.members import leave_guild
from townsquare.sandbox.world.permissions import Permission

MANAGE_GUILD = Permission.MANAGE_GUILD

if typing.TYPE_CHECKING:
    import aiohttp

    from tests.support.sandbox import EventRecorder
    from townsquare.sandbox import Sandbox


async def test_closed_dms_and_strangers_answer_50007(
    bot: hikari.GatewayBot, sandbox: Sandbox
) -> None:
    guild = demo_guild(sandbox)
    closed, gone, open_ = (user_named(sandbox, n) for n in ("nettle", "onyx", "pell"))
    sandbox.world.users[closed].dms_closed = True
    leave_guild(sandbox.world, guild, guild.members[gone])
    for user in (closed, gone):
        channel = await bot.rest.create_dm_channel(user)  # opening the channel still works
        with pytest.raises(hikari.ForbiddenError) as refused:
            await bot.rest.create_message(channel.id, "hello")
        assert refused.value.code == 50007
    channel = await bot.rest.create_dm_channel(open_)
    assert (await bot.rest.create_message(channel.id, "hello")).content == "hello"


async def test_the_verification_level_changes_with_manage_server(
    bot: hikari.GatewayBot, sandbox: Sandbox
) -> None:
    guild = demo_guild(sandbox)
    with pytest.raises(hikari.ForbiddenError):
        await bot.rest.edit_guild(guild.id, verification_level=hikari.GuildVerificationLevel.HIGH)
    bot_role = next(r for r in guild.roles.values() if r.name == "Townsquare")
    bot_role.permissions |= MANAGE_GUILD
    edited = await bot.rest.edit_guild(
        guild.id, verification_level=hikari.GuildVerificationLevel.HIGH
    )
    assert edited.verification_level == hikari.GuildVerificationLevel.HIGH
    assert guild.verification_level == 3


async def test_spam_wave_and_raid_scenarios(
    sandbox: Sandbox, http: aiohttp.ClientSession, recorder: EventRecorder, bot: hikari.GatewayBot
) -> None:
    guild = demo_guild(sandbox)
    wave = await control(http, sandbox.info, "POST", "/scenarios/spam-wave", {"members": 2})
    posted = {int(user): [int(m) for m in ids] for user, ids in wave["posted"].items()}
    assert len(posted) == 2 and all(len(ids) == 8 for ids in posted.values())
    for user, ids in posted.items():
        assert {sandbox.world.messages[m].author_id for m in ids} == {user}
        assert not guild.members[user].role_ids
    raid = await control(http, sandbox.info, "POST", "/scenarios/raid", {"accounts": 4})
    joined = [int(user) for user in raid["joined"]]
    assert set(joined) <= set(guild.members)
    await recorder.wait_for(hikari.GuildMessageCreateEvent, lambda _: True, count=16)
    await control(http, sandbox.info, "POST", "/scenarios/raid", {"accounts": 0}, status=400)
