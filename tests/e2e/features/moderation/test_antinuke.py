"""End to end: a nuke through the sandbox (a member deleting channels fast, each an audit-log
entry), the shard (GUILD_MODERATION, asked for because anti-nuke is on in the guild defaults),
the automod stream, a worker and the guard: the member loses their dangerous roles, keeps the
others, and the owner and the log channel are told once."""

from __future__ import annotations

import typing

import pytest

from tests.support.moderation import (
    configure_moderation,
    dms_to,
    log_entries,
    moderation_section,
    with_defaults,
)
from tests.support.pipeline import WITHIN
from tests.support.sandbox import control
from tests.support.waiting import wait_until
from tests.support.world import channel_named, role_named, user_named
from townsquare.core.guard.models import Case
from townsquare.features.moderation.domain.config import ANTI_NUKE_DEFAULTS
from townsquare.sandbox.world.permissions import Permission
from townsquare.sandbox.world.roles import create_role

if typing.TYPE_CHECKING:
    import aiohttp

    from tests.support.pipeline import Stack

pytestmark = pytest.mark.integration


async def test_a_rogue_member_deleting_channels_is_stripped_once(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    guild, sandbox, world = stack.guild, stack.sandbox, stack.sandbox.world
    log = channel_named(guild, "mod-log")
    anti_nuke = ANTI_NUKE_DEFAULTS | {"enabled": True}  # more than 2 channel deletes in 30 s
    section = moderation_section(anti_nuke=anti_nuke, log_channel_id=log, dm_members=False)
    await configure_moderation(guild.id, section)
    guild.roles[role_named(guild, "Townsquare")].permissions |= Permission.VIEW_AUDIT_LOG
    # A role below the bot's that can delete channels, held by a member who also has a level.
    keeper = create_role(
        world, guild, name="Channel Keeper", permissions=Permission.MANAGE_CHANNELS
    )
    rogue = user_named(sandbox, "alder")
    level = role_named(guild, "Level 5")
    world.add_member_role(guild, guild.members[rogue], keeper)
    world.add_member_role(guild, guild.members[rogue], guild.roles[level])
    doomed = [channel_named(guild, n) for n in ("media", "off-topic", "welcome", "rules")]
    running = with_defaults(stack, anti_nuke__enabled="true")
    async with running.pipeline(("xp", "automod", "jobs")):
        body = {"user_id": str(rogue), "channel_ids": [str(c) for c in doomed]}
        await control(http, sandbox.info, "POST", "/scenarios/nuke", body)
        await wait_until(
            lambda: keeper.id not in guild.members[rogue].role_ids,
            within=WITHIN,
            what="the rogue's dangerous role removed",
        )
        await wait_until(
            lambda: bool(dms_to(sandbox, guild.owner_id)), within=WITHIN, what="the owner told"
        )
        await running.drained("automod")

    assert guild.members[rogue].role_ids == [level]
    (case,) = await Case.filter(guild_id=guild.id, source="antinuke")
    assert (case.action, case.target_id, case.status) == ("strip_roles", rogue, "executed")
    assert case.reason == "anti-nuke: more than 2 channels deleted within 30 s"
    (dm,) = dms_to(sandbox, guild.owner_id)  # the 4th delete, in the cool-down, adds nothing
    assert dm.embeds[0]["title"] == "Anti-nuke tripped"
    assert f"<@{rogue}>" in dm.embeds[0]["description"]
    assert "removed 1 role with dangerous permissions" in dm.embeds[0]["description"]
    titles = [m.embeds[0]["title"] for m in log_entries(sandbox, log)]
    assert titles.count("Anti-nuke tripped") == 1
    alerts = await stack.redis.xrange(stack.keyspace.key("alerts"))
    nuke_alerts = [f for _, f in alerts if f[b"source"] == b"moderation.anti_nuke"]
    assert len(nuke_alerts) == 1
    assert b"guild_id" not in nuke_alerts[0]  # the owner and the log channel have it already
