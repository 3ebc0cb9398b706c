"""A real worker process SIGKILLed while it works through batches the shard published, then a
replay of every batch: totals stay exact (checked against the independent reference model).

The sandbox, the real hikari `GatewayBot` (`run_shards`) and Redis run in the test; the doomed
worker is this module run as a process (`python -m tests.e2e.features.xp.test_pipeline_kill
REDIS_URL NAMESPACE DATABASE_URL`): the platform's unmodified `xp` tasks with PostgreSQL
connected. Unlike `tests/integration/features/xp/test_xp_kill.py` (which stops a doctored task
at one exact point), the kill lands wherever the real worker happens to be, with several
batches in flight.
"""

from __future__ import annotations

import asyncio
import json
import sys
import typing
from pathlib import Path

import pytest

from tests.support.pipeline import WITHIN, SteppedClock, chat_plan, create_posts, int_hash
from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.shards import shards_running
from tests.support.waiting import wait_until
from tests.support.workers import (
    doomed_worker,
    running_worker,
    settings_with,
)
from tests.support.world import channel_named, demo_guild
from tests.support.xp import configure, drained, reference_levels, reference_totals
from townsquare.core.events import MessageRecord
from townsquare.core.events.wire import DATA_FIELD
from townsquare.core.guilds.service import ensure_guild
from townsquare.core.keyspace import Keyspace
from townsquare.sandbox import Sandbox
from townsquare.tasks.brokers import CONSUMER_GROUP
from townsquare.tasks.registry import load_tasks

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from tests.support.backends import Backends
    from townsquare.core.config.schemas import GuildConfig

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

MEMBERS = 24
PER_MEMBER = 250
QUICK_GAPS = (1_000, 5_000, 10_000, 14_000)
"""Mean 7.5 s: 250 messages a member span about 31 minutes."""


async def xp_entries(redis: aioredis.Redis, keyspace: Keyspace) -> list[bytes]:
    """The job of every entry in the xp stream, in order."""
    entries = await redis.xrange(keyspace.key("stream", "xp"))
    found = typing.cast("list[tuple[bytes, dict[bytes, bytes]]]", entries)
    return [fields[DATA_FIELD.encode()] for _, fields in found]


async def message_records_in_stream(redis: aioredis.Redis, keyspace: Keyspace) -> int:
    count = 0
    for job in await xp_entries(redis, keyspace):
        (records,) = json.loads(job)["args"]
        count += sum(1 for record in records if record["kind"] == "message")
    return count


async def counted(redis: aioredis.Redis, keyspace: Keyspace, guild_id: int) -> int:
    return sum(int(v) for v in await redis.hvals(keyspace.key("xp_messages", guild_id)))


async def test_a_worker_killed_mid_work_and_a_replay_of_every_batch_leave_totals_exact(
    backends: Backends, tmp_path: Path
) -> None:
    redis, redis_url, keyspace, database_url = backends
    clock = SteppedClock()
    sandbox = Sandbox(clock=clock)
    async with sandbox:
        sent, config = await _published_by_the_shard(sandbox, clock, redis, redis_url, keyspace)
    guild = demo_guild(sandbox)
    totals = reference_totals(sent, config)
    levels = {m: level for m, level in reference_levels(totals).items() if level}
    settings = settings_with(reclaim_interval_seconds=0.3, xp__idle_timeout_seconds=1)

    args = (redis_url, keyspace.namespace, database_url)
    log = tmp_path / "doomed-worker.log"
    async with doomed_worker(__name__, *args, log=log, stdout=None) as doomed:
        await wait_until(
            lambda: _started(redis, keyspace, guild.id, doomed),
            within=WITHIN,
            interval=0.001,
            what="the doomed worker awarding",
        )
    at_kill = await counted(redis, keyspace, guild.id)
    assert 0 < at_kill < len(sent), "the kill must land while the worker is busy"
    pending = await redis.xpending(keyspace.key("stream", "xp"), CONSUMER_GROUP)
    assert pending["pending"] > 0  # batches delivered to the dead worker, never acknowledged

    async with running_worker(settings, redis_url, keyspace, load_tasks(), ("xp",)):
        await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="reclaimed")
        assert await int_hash(redis, keyspace.key("xp", guild.id)) == totals
        assert await counted(redis, keyspace, guild.id) == len(sent)
        assert await int_hash(redis, keyspace.key("xp_levels", guild.id)) == levels

        # Replay: every batch the shard published goes into the stream a second time.
        jobs = await xp_entries(redis, keyspace)
        for job in jobs:
            await redis.xadd(keyspace.key("stream", "xp"), {DATA_FIELD: job})
        await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="replayed")
    assert await xp_entries(redis, keyspace) == jobs + jobs
    assert await int_hash(redis, keyspace.key("xp", guild.id)) == totals
    assert await counted(redis, keyspace, guild.id) == len(sent)
    assert await int_hash(redis, keyspace.key("xp_levels", guild.id)) == levels


async def _published_by_the_shard(
    sandbox: Sandbox,
    clock: SteppedClock,
    redis: aioredis.Redis,
    redis_url: str,
    keyspace: Keyspace,
) -> tuple[list[MessageRecord], GuildConfig]:
    """Chat injected at the sandbox, every message in the xp stream (no worker running yet)."""
    guild = demo_guild(sandbox)
    await ensure_guild(guild.id)
    config = await configure(guild.id)
    bot = sandbox.world.application.bot_user_id
    authors = [m for m in guild.members if m != bot][:MEMBERS]
    channels = [channel_named(guild, n) for n in ("general", "media", "off-topic")]
    posts = chat_plan(authors, channels, per_member=PER_MEMBER, seed=3, gaps=QUICK_GAPS)
    async with shards_running(settings_with(), redis_url, keyspace, sandbox.info):

        async def connected() -> bool:  # the guild record is in the stream
            return bool(await xp_entries(redis, keyspace))

        await wait_until(connected, within=WITHIN, what="the shard")
        sent = create_posts(sandbox, clock, posts)
        await wait_until(
            lambda: _all_published(redis, keyspace, len(sent)),
            within=WITHIN,
            what="every message in the xp stream",
        )
    return sent, config


async def _all_published(redis: aioredis.Redis, keyspace: Keyspace, count: int) -> bool:
    return await message_records_in_stream(redis, keyspace) == count


async def _started(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, worker: asyncio.subprocess.Process
) -> bool:
    if worker.returncode is not None:
        raise AssertionError(f"the doomed worker exited with {worker.returncode}")
    return await counted(redis, keyspace, guild_id) > 0


def _main() -> None:
    from townsquare.core.db import connect
    from townsquare.tasks.worker import run_worker

    redis_url, namespace, database_url = sys.argv[1:4]

    async def work() -> None:
        async with connect(database_url):
            await run_worker(
                settings_with(reclaim_interval_seconds=600), redis_url, Keyspace(namespace), ["xp"]
            )

    asyncio.run(work())


if __name__ == "__main__":
    _main()
