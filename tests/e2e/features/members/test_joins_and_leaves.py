"""End to end: a member joining and one leaving in the sandbox reach the Overview's joins and
leaves chart, through the shard (asking for the Server Members intent because the settings
say the application has it), the `jobs` stream, a worker's count and the rollup job."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from tests.support.pipeline import WITHIN, enqueue
from tests.support.waiting import wait_until
from townsquare.core.activity import MEMBER_JOINS, MEMBER_LEAVES
from townsquare.core.activity.rollup import daily_series
from townsquare.core.settings import load_settings
from townsquare.sandbox.world.members import join_guild, leave_guild
from townsquare.tasks.activity import ROLL_UP_TASK

if typing.TYPE_CHECKING:
    from tests.support.pipeline import Stack

pytestmark = pytest.mark.integration


async def test_a_join_and_a_leave_reach_the_overview_chart(stack: Stack) -> None:
    guild, world = stack.guild, stack.sandbox.world
    environ = {
        "TOWNSQUARE__DISCORD__SERVER_MEMBERS_INTENT": "true",
        "TOWNSQUARE__PATHS__VAR_DIR": str(stack.settings.paths.var_dir),
    }
    members_on = dataclasses.replace(stack, settings=load_settings(environ=environ, env_file=None))
    leaving = world.user_named("vale")
    assert leaving is not None

    async def charted() -> tuple[int, int]:
        joins, leaves = await daily_series(guild.id, (MEMBER_JOINS, MEMBER_LEAVES))
        return sum(joins.values), sum(leaves.values)

    async with members_on.pipeline(("xp", "jobs")):
        join_guild(world, guild, world.create_user("newcomer"))
        leave_guild(world, guild, guild.members[leaving.id])

        async def rolled_up() -> bool:
            await enqueue(stack.redis, stack.keyspace, "jobs", ROLL_UP_TASK)
            await stack.drained("jobs")
            return await charted() == (1, 1)

        await wait_until(rolled_up, within=WITHIN, what="the join and the leave charted")
        await stack.drained("jobs")
    assert await charted() == (1, 1)  # each counted once
