"""End to end: a raid (mass joins of new accounts) through the sandbox, the shard (with the
Server Members intent, asked for because anti-raid is on in the guild defaults), the automod
stream, a worker and the guard; then the raid watch ends raid mode with a summary."""

from __future__ import annotations

import time
import typing

import pytest

from tests.support.moderation import (
    configure_moderation,
    log_entries,
    moderation_section,
    with_defaults,
)
from tests.support.pipeline import WITHIN, enqueue
from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.waiting import wait_until
from tests.support.world import channel_named, role_named
from townsquare.core.guard.models import Case
from townsquare.features.moderation.domain.jobs import RAID_WATCH_TASK
from townsquare.sandbox.world.members import join_guild, leave_guild
from townsquare.sandbox.world.permissions import Permission

if typing.TYPE_CHECKING:
    from tests.support.pipeline import Stack

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

RAID = {
    "enabled": True,
    "joins": 5,
    "window_seconds": 10,
    "account_age_days": 7,
    "action": "kick",
    "timeout_seconds": 3600,
    "quiet_seconds": 60,
    "raise_verification": True,
}


async def test_a_raid_of_new_accounts(stack: Stack) -> None:
    guild, sandbox, world = stack.guild, stack.sandbox, stack.sandbox.world
    log = channel_named(guild, "mod-log")
    await configure_moderation(
        guild.id, moderation_section(anti_raid=RAID, log_channel_id=log, dm_members=False)
    )
    bot_role = guild.roles[role_named(guild, "Townsquare")]
    bot_role.permissions |= Permission.MANAGE_GUILD  # to raise verification during the raid
    veteran = world.user_named("vale")
    assert veteran is not None
    leave_guild(world, guild, guild.members[veteran.id])
    newcomers = [world.create_user(f"raider{n}") for n in range(7)]
    async with with_defaults(stack, anti_raid__enabled="true").pipeline(("xp", "automod", "jobs")):
        joins = stack.keyspace.key("antiraid_joins", guild.id)
        for user in newcomers[:4]:
            join_guild(world, guild, user)
        # Batches are judged in the order workers take them: let the first four be counted
        # before the fifth, as a raid spread over seconds would.
        await wait_until(
            lambda: _counted(stack, joins, 4), within=WITHIN, what="four joins counted"
        )
        join_guild(world, guild, newcomers[4])  # the 5th join within 10 s starts raid mode
        join_guild(world, guild, veteran)  # an old account: stays
        for user in newcomers[5:]:
            join_guild(world, guild, user)

        kicked = {u.id for u in newcomers[4:]}
        await wait_until(
            lambda: not kicked & set(guild.members), within=WITHIN, what="the raiders kicked"
        )
        assert guild.verification_level == 3  # High, during raid mode
        await enqueue(
            stack.redis,
            stack.keyspace,
            "jobs",
            RAID_WATCH_TASK,
            now_ms=int(time.time() * 1000) + 120_000,
        )
        await wait_until(
            lambda: any(
                e.embeds[0]["title"] == "Raid mode ended" for e in log_entries(sandbox, log)
            ),
            within=WITHIN,
            what="the raid summary",
        )

    assert {u.id for u in newcomers[:4]} | {veteran.id} <= set(guild.members)
    cases = await Case.filter(guild_id=guild.id, source="antiraid").order_by("number")
    assert sorted(c.target_id for c in cases) == sorted(kicked)
    assert all(c.action == "kick" and c.status == "executed" for c in cases)
    titles = [e.embeds[0]["title"] for e in log_entries(sandbox, log)]
    assert titles.count("Raid mode on") == 1
    [summary] = [e for e in log_entries(sandbox, log) if e.embeds[0]["title"] == "Raid mode ended"]
    assert "4 joins during it, 3 acted on" in summary.embeds[0]["description"]
    assert "Verification back to Low." in summary.embeds[0]["description"]
    assert guild.verification_level == 1
    alerts = await stack.redis.xrange(stack.keyspace.key("alerts"))
    raid_alerts = [f for _, f in alerts if f[b"source"] == b"moderation.anti_raid"]
    assert len(raid_alerts) == 2  # on, then ended
    # The log channel has the embeds: the alerts are the operators' only, so the guild's
    # admins are not told twice (by the alert delivery into the same channel).
    assert all(b"guild_id" not in fields for fields in raid_alerts)
    assert not await stack.redis.exists(stack.keyspace.key("antiraid_state", guild.id))


async def _counted(stack: Stack, key: str, joins: int) -> bool:
    return int(await stack.redis.zcard(key)) == joins
