"""End to end: a member joining and one leaving in the sandbox reach the Overview's joins and
leaves chart, through the shard (asking for the Server Members intent because the settings
say the application has it), the `jobs` stream, a worker's count and the rollup job; and
they still count once when the gateway replays them to the next shard process, which resumes
from before them (as after a crash before it recorded its position)."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from tests.support.pipeline import WITHIN, enqueue
from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.shards import shards_running
from tests.support.waiting import wait_until
from townsquare.core.activity import MEMBER_JOINS, MEMBER_LEAVES
from townsquare.core.activity.rollup import daily_series
from townsquare.core.settings import load_settings
from townsquare.sandbox.world.members import join_guild, leave_guild
from townsquare.tasks.activity import ROLL_UP_TASK

if typing.TYPE_CHECKING:
    from tests.support.pipeline import Stack

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]


async def test_a_join_and_a_leave_reach_the_overview_chart_once(stack: Stack) -> None:
    guild, sandbox, redis = stack.guild, stack.sandbox, stack.redis
    world = sandbox.world
    environ = {
        "TOWNSQUARE__DISCORD__SERVER_MEMBERS_INTENT": "true",
        "TOWNSQUARE__PATHS__VAR_DIR": str(stack.settings.paths.var_dir),
    }
    members_on = dataclasses.replace(stack, settings=load_settings(environ=environ, env_file=None))
    leaving = world.user_named("vale")
    assert leaving is not None
    session_key = stack.keyspace.key("shard_session", 0)

    def shard() -> typing.AsyncContextManager[object]:
        return shards_running(members_on.settings, stack.redis_url, stack.keyspace, sandbox.info)

    async def replayed() -> bool:  # the position after the leave recorded again
        seq = await redis.hget(session_key, "seq")
        return seq is not None and int(seq) >= after

    async def charted() -> tuple[int, int]:
        joins, leaves = await daily_series(guild.id, (MEMBER_JOINS, MEMBER_LEAVES))
        return sum(joins.values), sum(leaves.values)

    async def rolled_up() -> bool:
        await enqueue(redis, stack.keyspace, "jobs", ROLL_UP_TASK)
        await stack.drained("jobs")
        return await charted() == (1, 1)

    async with members_on.worker(("xp", "jobs")):
        async with shard():
            await wait_until(
                lambda: redis.hexists(session_key, "session_id"), within=WITHIN, what="a session"
            )
            [session] = sandbox.hub.sessions.values()
            before = session.seq
            join_guild(world, guild, world.create_user("newcomer"))
            leave_guild(world, guild, guild.members[leaving.id])
            await wait_until(rolled_up, within=WITHIN, what="the join and the leave charted")
            after = session.seq
        # The next process resumes from before the join and the leave: the gateway replays
        # both, a new leave record (received again) of the same dispatch.
        await redis.hset(session_key, "seq", before)
        async with shard():
            await wait_until(replayed, within=WITHIN, what="the replay published")
        assert list(sandbox.hub.sessions) == [session.session_id]  # resumed, not identified
        await stack.drained("jobs")
        await enqueue(redis, stack.keyspace, "jobs", ROLL_UP_TASK)
        await stack.drained("jobs")
    assert await charted() == (1, 1)  # each counted once
