"""A real worker process SIGKILLed while automod acts on a burst of rule-breaking messages,
then every batch delivered again: no action lost, none doubled.

The doomed worker is this module run as a process (`python -m
tests.e2e.features.moderation.test_automod_kill REDIS_URL NAMESPACE DATABASE_URL VAR_DIR`): the
platform's unmodified `automod` task, PostgreSQL connected, Discord REST to the test's sandbox
(found through `VAR_DIR/sandbox.json`). The kill lands wherever the worker happens to be.
"""

from __future__ import annotations

import asyncio
import collections
import sys
import typing

import pytest

from tests.support.moderation import configure_moderation, moderation_section, rule
from tests.support.pipeline import WITHIN
from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.waiting import wait_until
from tests.support.workers import doomed_worker, running_worker
from tests.support.world import channel_named
from tests.support.xp import drained, wait_drained
from townsquare.core.events import MessageRecord
from townsquare.core.events.wire import DATA_FIELD, encode_job
from townsquare.core.guard.models import Case
from townsquare.core.keyspace import Keyspace
from townsquare.core.settings import load_settings
from townsquare.core.snowflakes import snowflake_ms
from townsquare.features.moderation.domain.jobs import AUTOMOD_TASK
from townsquare.tasks.registry import load_tasks

if typing.TYPE_CHECKING:
    from pathlib import Path

    from tests.support.pipeline import Stack
    from townsquare.core.settings import Settings

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

AUTHORS = 10
BATCH = 4


async def test_a_killed_worker_and_a_replay_lose_and_double_nothing(
    stack: Stack, database_url: str, tmp_path: Path
) -> None:
    guild, sandbox, redis, keyspace = stack.guild, stack.sandbox, stack.redis, stack.keyspace
    section = moderation_section(
        dm_members=False,
        automod={"banned_words": ["forbidden"]},
        rules={"words": rule("timeout", 1)},
    )
    await configure_moderation(guild.id, section)
    general = sandbox.world.channel(channel_named(guild, "general"))
    assert general is not None
    bot = sandbox.world.application.bot_user_id
    authors = [m for m in guild.members if m not in {bot, guild.owner_id}]
    authors = [a for a in authors if not guild.members[a].role_ids][:AUTHORS]
    records = []
    for round_ in range(2):
        for author in authors:
            made = sandbox.world.create_message(general, author, f"forbidden words {round_}")
            records.append(
                MessageRecord(
                    guild_id=guild.id,
                    channel_id=general.id,
                    author_id=author,
                    message_id=made.id,
                    timestamp_ms=snowflake_ms(made.id),
                    role_ids=(),
                    length=len(made.content),
                    mention_count=0,
                    link_count=0,
                    content=made.content,
                )
            )
    stream = keyspace.key("stream", "automod")
    jobs = [
        encode_job(AUTOMOD_TASK, [r.model_dump(mode="json") for r in records[i : i + BATCH]])
        for i in range(0, len(records), BATCH)
    ]
    for job in jobs:
        await redis.xadd(stream, {DATA_FIELD: job})

    args = (stack.redis_url, keyspace.namespace, database_url, str(stack.settings.paths.var_dir))
    async with doomed_worker(__name__, *args, log=tmp_path / "doomed.log", stdout=None) as doomed:

        async def acting() -> bool:
            assert doomed.returncode is None, (tmp_path / "doomed.log").read_text()
            return await Case.filter(guild_id=guild.id).count() > 0

        # A new process imports the whole worker first: slow on a loaded machine.
        await wait_until(acting, within=3 * WITHIN, interval=0.005, what="the doomed worker acting")
    at_kill = await Case.filter(guild_id=guild.id, action="timeout").count()
    assert at_kill < len(records), "the kill must land while the worker is busy"

    settings = worker_settings(
        str(stack.settings.paths.var_dir),
        TOWNSQUARE__TASKS__RECLAIM_INTERVAL_SECONDS="0.3",
        TOWNSQUARE__TASKS__AUTOMOD__IDLE_TIMEOUT_SECONDS="1",
    )
    async with running_worker(settings, stack.redis_url, keyspace, load_tasks(), ("automod",)):
        await wait_drained(redis, keyspace, "automod", within=WITHIN)
        for job in jobs:  # every batch again
            await redis.xadd(stream, {DATA_FIELD: job})
        await wait_until(lambda: drained(redis, keyspace, "automod"), within=WITHIN, what="replay")

    cases = await Case.filter(guild_id=guild.id).order_by("number")
    assert [c.number for c in cases] == list(range(1, len(cases) + 1))
    per_author = collections.Counter((c.target_id, c.action) for c in cases if c.target_id)
    for author in authors:
        assert per_author[(author, "timeout")] == 2, "one timeout per message, no more"
        assert per_author[(author, "warn")] == 1, "the ladder's warn at 1 point, once"
        assert guild.members[author].communication_disabled_until is not None
    deleted = [m for c in cases if c.action == "delete" for m in c.message_ids]
    assert sorted(deleted) == sorted(r.message_id for r in records), "each deletion once"
    assert not {r.message_id for r in records} & set(sandbox.world.messages)
    assert all(c.status == "executed" for c in cases)


def worker_settings(var_dir: str, **environ: str) -> Settings:
    """Settings whose Discord is the test's sandbox (its `sandbox.json` in `var_dir`)."""
    return load_settings(environ={"TOWNSQUARE__PATHS__VAR_DIR": var_dir, **environ}, env_file=None)


def _main() -> None:
    from townsquare.core.db import connect
    from townsquare.tasks.worker import run_worker

    redis_url, namespace, database_url, var_dir = sys.argv[1:5]
    settings = worker_settings(var_dir, TOWNSQUARE__TASKS__RECLAIM_INTERVAL_SECONDS="600")

    async def work() -> None:
        async with connect(database_url):
            await run_worker(settings, redis_url, Keyspace(namespace), ["automod"])

    asyncio.run(work())


if __name__ == "__main__":
    _main()
