"""The sandbox's audit log through the real hikari client: the nuke scenario's deletions and
bans are entries by the rogue member, announced as GUILD_AUDIT_LOG_ENTRY_CREATE only to a bot
with View Audit Log; the bot's own REST actions are entries by the bot with its reason;
invites resolve to their guild."""

from __future__ import annotations

import typing

import hikari
import pytest

from tests.support.sandbox import control
from tests.support.world import channel_named, demo_guild, role_named, user_named
from townsquare.sandbox.world.permissions import Permission

if typing.TYPE_CHECKING:
    import aiohttp

    from tests.support.sandbox import EventRecorder
    from townsquare.sandbox import Sandbox


async def test_a_nuke_is_in_the_audit_log(
    bot: hikari.GatewayBot, sandbox: Sandbox, http: aiohttp.ClientSession, recorder: EventRecorder
) -> None:
    guild = demo_guild(sandbox)
    sheriff = user_named(sandbox, "sheriff")  # an Admin
    doomed = [channel_named(guild, n) for n in ("media", "off-topic")]
    body = {"user_id": str(sheriff), "channel_ids": [str(c) for c in doomed]}
    unseen = await control(http, sandbox.info, "POST", "/scenarios/nuke", body)
    with pytest.raises(hikari.ForbiddenError):  # no View Audit Log yet: no reading, no events
        await bot.rest.fetch_audit_log(guild.id).limit(5)
    guild.roles[role_named(guild, "Townsquare")].permissions |= Permission.VIEW_AUDIT_LOG
    body = {"user_id": str(sheriff), "channels": 1, "bans": 2}
    nuke = await control(http, sandbox.info, "POST", "/scenarios/nuke", body)
    seen = await recorder.wait_for(hikari.AuditLogEntryCreateEvent, count=3)
    assert [int(e.entry.id) for e in seen] == [int(i) for i in nuke["entries"]]
    assert {e.entry.user_id for e in seen} == {sheriff}
    assert [e.entry.action_type for e in seen] == [
        hikari.AuditLogEventType.CHANNEL_DELETE,
        hikari.AuditLogEventType.MEMBER_BAN_ADD,
        hikari.AuditLogEventType.MEMBER_BAN_ADD,
    ]
    assert not set(doomed) & set(guild.channels)
    assert {int(u) for u in nuke["banned"]} <= set(guild.bans)

    victim = next(
        m
        for m in sorted(guild.members)
        if not guild.members[m].role_ids
        and m != sheriff
        and not sandbox.world.users[m].bot
        and m != guild.owner_id
    )
    await bot.rest.kick_user(guild.id, victim, reason="spam: case 3")
    pages = bot.rest.fetch_audit_log(guild.id, user=sheriff)
    entries = [e for page in await pages for e in page.entries.values()]
    assert sorted(int(e.id) for e in entries) == sorted(
        int(i) for i in [*unseen["entries"], *nuke["entries"]]
    )
    kicks = bot.rest.fetch_audit_log(guild.id, event_type=hikari.AuditLogEventType.MEMBER_KICK)
    (kick,) = [e for page in await kicks for e in page.entries.values()]
    assert (kick.user_id, kick.target_id, kick.reason) == (bot.get_me().id, victim, "spam: case 3")


async def test_nukes_need_the_rights_and_invites_resolve(
    bot: hikari.GatewayBot, sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    guild = demo_guild(sandbox)
    plain = {"user_id": str(user_named(sandbox, "alder")), "channels": 1}
    await control(http, sandbox.info, "POST", "/scenarios/nuke", plain, status=403)
    made = await control(http, sandbox.info, "POST", "/invites", {"code": "town-square"})
    invite = await bot.rest.fetch_invite("town-square")
    assert (invite.guild_id, invite.channel_id) == (guild.id, int(made["channel_id"]))
    await control(http, sandbox.info, "POST", "/invites", {"code": "town-square"}, status=409)
    with pytest.raises(hikari.NotFoundError):
        await bot.rest.fetch_invite("elsewhere")


async def test_control_changes_are_audited_by_the_member_named(
    bot: hikari.GatewayBot, sandbox: Sandbox, http: aiohttp.ClientSession, recorder: EventRecorder
) -> None:
    guild = demo_guild(sandbox)
    guild.roles[role_named(guild, "Townsquare")].permissions |= Permission.VIEW_AUDIT_LOG
    sheriff, alder = user_named(sandbox, "sheriff"), user_named(sandbox, "alder")
    info = sandbox.info
    plain = {"actor_id": str(alder), "name": "Nope"}
    await control(http, info, "POST", "/roles", plain, status=403)  # no Manage Roles
    await control(http, info, "POST", f"/members/{sheriff}/kick", plain, status=403)
    await control(http, info, "POST", f"/bans/{guild.owner_id}", {}, status=403)  # the owner
    role = await control(http, info, "POST", "/roles", {"actor_id": str(sheriff), "name": "Raid"})
    await control(http, info, "DELETE", f"/roles/{role['id']}", {})  # the owner, by default
    victims = [
        m
        for m in sorted(guild.members)
        if not guild.members[m].role_ids
        and m not in {alder, guild.owner_id}
        and not sandbox.world.users[m].bot
    ][:2]
    by_sheriff = {"actor_id": str(sheriff), "reason": "rogue admin"}
    kick = await control(http, info, "POST", f"/members/{victims[0]}/kick", by_sheriff)
    banned = await control(http, info, "POST", f"/bans/{victims[1]}", by_sheriff)
    unbanned = await control(http, info, "DELETE", f"/bans/{victims[1]}", by_sheriff)
    media = channel_named(guild, "media")
    gone = await control(http, info, "DELETE", f"/channels/{media}", by_sheriff)
    await control(http, info, "POST", "/invites", {"code": "audited"})

    seen = await recorder.wait_for(hikari.AuditLogEntryCreateEvent, count=7)
    Event = hikari.AuditLogEventType
    assert [(e.entry.action_type, e.entry.user_id, e.entry.target_id) for e in seen] == [
        (Event.ROLE_CREATE, sheriff, int(role["id"])),
        (Event.ROLE_DELETE, guild.owner_id, int(role["id"])),
        (Event.MEMBER_KICK, sheriff, victims[0]),
        (Event.MEMBER_BAN_ADD, sheriff, victims[1]),
        (Event.MEMBER_BAN_REMOVE, sheriff, victims[1]),
        (Event.CHANNEL_DELETE, sheriff, media),
        (Event.INVITE_CREATE, guild.owner_id, None),
    ]
    assert [str(e.entry.id) for e in seen[2:6]] == [
        kick["entry"], banned["entry"], unbanned["entry"], gone["entry"],
    ]  # fmt: skip
    assert seen[2].entry.reason == "rogue admin"
    assert victims[0] not in guild.members and victims[1] not in guild.bans
    assert media not in guild.channels
