"""Anti-nuke's counting and response against the sandbox, Redis and PostgreSQL: per actor and
kind, by entry time; the owner, the bot and trusted users never counted; a redelivered batch
acts and alerts once; a bot that trips it is kicked; an actor above the bot is a blocked case
that still alerts, also when the nuke took the log channel."""

from __future__ import annotations

import typing

import pytest

from tests.support.moderation import dms_to, guard_context, moderation_section
from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.world import channel_named, role_named, user_named
from townsquare.core.events import AuditLogRecord
from townsquare.core.guard.models import Case
from townsquare.features.moderation.domain.antinuke import judge_entries
from townsquare.features.moderation.domain.config import ANTI_NUKE_DEFAULTS
from townsquare.sandbox.world.channels import delete_channel
from townsquare.sandbox.world.members import join_guild
from townsquare.sandbox.world.permissions import Permission
from townsquare.sandbox.world.roles import create_role

if typing.TYPE_CHECKING:
    from tests.support.pipeline import Stack

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

CHANNEL_DELETE, BAN, BOT_ADD = 12, 22, 28
START_MS = 1_800_000_000_000


def entries(
    guild_id: int, actor: int, kind: int, count: int, first: int = 0
) -> list[AuditLogRecord]:
    """`count` entries by `actor`, one a second from `first` seconds after START_MS."""
    return [
        AuditLogRecord(
            guild_id=guild_id,
            entry_id=(actor % 10_000) * 1_000_000 + kind * 1000 + first + n + 1,
            action_type=kind,
            user_id=actor,
            target_id=n + 1,
            timestamp_ms=START_MS + (first + n) * 1000,
        )
        for n in range(count)
    ]


async def test_counting_exemptions_and_redelivery(stack: Stack) -> None:
    guild, sandbox = stack.guild, stack.sandbox
    doer = create_role(sandbox.world, guild, name="Doer", permissions=Permission.BAN_MEMBERS)
    rogue, trusted = user_named(sandbox, "alder"), user_named(sandbox, "bryony")
    sandbox.world.add_member_role(guild, guild.members[rogue], doer)
    bot = sandbox.info.application_id
    settings = ANTI_NUKE_DEFAULTS | {"enabled": True, "trusted_user_ids": [trusted]}
    section = moderation_section(anti_nuke=settings, dm_members=False)
    async with guard_context(sandbox, stack.redis, stack.keyspace, section) as context:
        calm = [
            *entries(guild.id, rogue, BAN, 3),  # at the limit (3), not past it
            *entries(guild.id, rogue, CHANNEL_DELETE, 2),  # the same: kinds count apart
            *entries(guild.id, rogue, BAN, 2, first=40),  # 40 s later: the first 3 are gone
            *entries(guild.id, trusted, CHANNEL_DELETE, 10),
            *entries(guild.id, guild.owner_id, CHANNEL_DELETE, 10),
            *entries(guild.id, bot, BAN, 10),
        ]
        assert await judge_entries(context, section, calm) == []
        nuke = entries(guild.id, rogue, BAN, 3, first=45)  # 4th, 5th, 6th ban in 30 s
        trips = await judge_entries(context, section, nuke)
        assert [(t.actor_id, t.kind, t.entry.entry_id) for t in trips] == [
            (rogue, "ban", nuke[1].entry_id)
        ]
        # The same batches again (a redelivery): the trip's verdict is kept, so its response
        # is finished if it had not been; the guard's key makes it the same case.
        again = await judge_entries(context, section, [*calm, *nuke])
        assert [(t.entry.entry_id, t.outcome.repeated) for t in again] == [(nuke[1].entry_id, True)]

    assert doer.id not in guild.members[rogue].role_ids
    cases = await Case.filter(guild_id=guild.id, source="antinuke")
    assert [(c.action, c.target_id, c.status) for c in cases] == [
        ("strip_roles", rogue, "executed")
    ]
    assert len(dms_to(sandbox, guild.owner_id)) == 1


async def test_a_bot_is_kicked_and_an_admin_above_the_bot_is_reported_without_a_log_channel(
    stack: Stack,
) -> None:
    guild, sandbox = stack.guild, stack.sandbox
    helper = sandbox.world.create_user("helperbot")
    helper.bot = True
    join_guild(sandbox.world, guild, helper)
    sheriff = user_named(sandbox, "sheriff")  # Admin, above the bot's role
    gone = channel_named(guild, "mod-log")
    delete_channel(sandbox.world, guild, guild.channels[gone])  # the nuke took the log channel
    section = moderation_section(
        anti_nuke=ANTI_NUKE_DEFAULTS | {"enabled": True}, log_channel_id=gone
    )
    async with guard_context(sandbox, stack.redis, stack.keyspace, section) as context:
        batch = [
            *entries(guild.id, helper.id, BOT_ADD, 2),
            *entries(guild.id, sheriff, CHANNEL_DELETE, 3),
        ]
        trips = await judge_entries(context, section, batch)
    outcomes = {t.actor_id: t.outcome for t in trips}
    assert outcomes[helper.id].status == "executed"
    assert helper.id not in guild.members
    assert outcomes[sheriff].status == "blocked"
    assert "bot's highest role" in outcomes[sheriff].detail
    assert role_named(guild, "Admin") in guild.members[sheriff].role_ids
    dms = dms_to(sandbox, guild.owner_id)
    assert len(dms) == 2
    assert any("could not act" in m.embeds[0]["description"] for m in dms)
