"""A giveaway ends exactly once: two workers and `/giveaway end` racing the timer (in this
process, and as two real `townsquare worker` processes with the real command); and a giveaway
whose end passed while everything was down ends when the scheduler starts again."""

from __future__ import annotations

import asyncio
import datetime
import typing

import pytest

from tests.support.giveaways import WITHIN, worker_processes
from tests.support.waiting import wait_until
from tests.support.world import channel_named, user_named
from townsquare.core.features import enabled_features
from townsquare.features.giveaways.domain import jobs
from townsquare.features.giveaways.domain.entries import read_open
from townsquare.features.giveaways.domain.models import Giveaway, GiveawayState, PickOutcome
from townsquare.tasks.schedule_sources import install_feature_schedules, make_schedule_source
from townsquare.tasks.scheduler import run_scheduler

if typing.TYPE_CHECKING:
    from pathlib import Path

    from tests.support.bot import BotRunning
    from tests.support.discord import Discord
    from tests.support.giveaways import Giveaways
    from tests.support.pipeline import Stack
    from townsquare.features.giveaways.domain.clock import Clock

pytestmark = pytest.mark.integration

ENTRANTS: typing.Final = ("alder", "bryony", "cedar", "dahlia", "ember", "flint")


async def test_two_workers_the_timer_and_end_now_end_a_giveaway_once(
    stack: Stack, giveaways: Giveaways, giveaway_clock: Clock
) -> None:
    entrants = [user_named(stack.sandbox, name) for name in ENTRANTS]
    general = channel_named(stack.guild, "general")
    async with stack.worker(("jobs",)), stack.worker(("jobs",)):
        giveaway = await giveaways.running(stack, entrants)
        giveaway_clock.advance(601)
        # The tick's end (twice, as two schedulers could), and a host's /giveaway end.
        await asyncio.gather(
            jobs.enqueue(stack.redis, stack.keyspace, 10_000, jobs.END_TASK, giveaway.id),
            jobs.enqueue(stack.redis, stack.keyspace, 10_000, jobs.END_TASK, giveaway.id),
            jobs.enqueue(
                stack.redis, stack.keyspace, 10_000, jobs.END_TASK, giveaway.id, force=True
            ),
            giveaways.tick(),
        )
        await giveaways.until_state(giveaway.id, "claiming")
        await stack.drained("jobs")
        await wait_until(
            lambda: bool(giveaways.channel_messages(general, "Congratulations")),
            within=WITHIN,
            what="the announcement",
        )
        await stack.drained("jobs")
    picks = await giveaways.picks(giveaway.id)
    assert [p.outcome for p in picks] == [PickOutcome.PENDING, PickOutcome.PENDING]
    assert len(giveaways.channel_messages(general, "Congratulations")) == 1
    for pick in picks:
        assert len(giveaways.dms(pick.user_id)) == 1


async def test_two_worker_processes_the_timer_and_the_end_command_end_it_once(
    stack: Stack,
    giveaways: Giveaways,
    discord: Discord,
    bot_running: BotRunning,
    database_url: str,
    tmp_path: Path,
) -> None:
    entrants = [user_named(stack.sandbox, name) for name in ENTRANTS]
    general = channel_named(stack.guild, "general")
    redis, keyspace = stack.redis, stack.keyspace
    async with worker_processes(stack, database_url, tmp_path) as logs, bot_running():
        giveaway = await giveaways.running(stack, entrants)
        await stack.drained("jobs")  # both workers idle, each blocked on the stream
        # Its end passes (the processes read the wall clock, not this test's).
        past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1)
        await Giveaway.filter(id=giveaway.id).update(ends_at=past)
        # What two schedulers' ticks queue, the timer's end, /giveaway end's forced end, and
        # the host typing /giveaway end, all at once.
        racing = [
            jobs.enqueue(redis, keyspace, 10_000, jobs.END_TASK, giveaway.id),
            jobs.enqueue(redis, keyspace, 10_000, jobs.END_TASK, giveaway.id, force=True),
            giveaways.tick(),
            giveaways.tick(),
            jobs.enqueue(redis, keyspace, 10_000, jobs.END_TASK, giveaway.id),
        ]
        command, *_ = await asyncio.gather(
            discord.run("mayor", "/giveaway end", id=giveaway.id), *racing
        )
        await giveaways.until_state(giveaway.id, "claiming")
        await wait_until(
            lambda: bool(giveaways.channel_messages(general, "Congratulations")),
            within=WITHIN,
            what="the announcement",
        )
        await giveaways.tick()
        await stack.drained("jobs")
        group = await redis.xinfo_consumers(keyspace.key("stream", "jobs"), "workers")
    assert command.ephemeral
    assert command.content in {
        f"Ending giveaway #{giveaway.id} (**Sticker pack**) now: the winners are announced "
        f"in <#{general}>.",
        f"Giveaway #{giveaway.id} is drawing, not running.",
        f"Giveaway #{giveaway.id} is claiming, not running.",
    }, command.content
    assert len(group) == len(logs), "each process has its consumer in the group"
    texts = [log.read_text() for log in logs]
    ran = [text.count("Executing task giveaways.end ") for text in texts]
    assert sum(ran) >= 3, f"the queued ends, run by the processes: {ran}"
    drawn = [text.count('"giveaway_drawn"') for text in texts]
    assert sorted(drawn) == [0, 1], f"one process committed the draw: {drawn}"
    picks = await giveaways.picks(giveaway.id)
    assert [(p.position, p.outcome) for p in picks] == [
        (0, PickOutcome.PENDING),
        (1, PickOutcome.PENDING),
    ]
    assert len(giveaways.channel_messages(general, "Congratulations")) == 1
    for pick in picks:
        assert len(giveaways.dms(pick.user_id)) == 1


async def test_an_end_that_passed_while_everything_was_down_happens_at_start_up(
    stack: Stack, giveaways: Giveaways, giveaway_clock: Clock
) -> None:
    entrants = [user_named(stack.sandbox, name) for name in ENTRANTS]
    async with stack.worker(("jobs",)):
        giveaway = await giveaways.running(stack, entrants, winners=1)
    giveaway_clock.advance(3600)  # nothing runs across the end
    source = await make_schedule_source(stack.redis_url, stack.keyspace)
    await source.startup()
    try:
        await install_feature_schedules(source, enabled_features())
    finally:
        await source.shutdown()
    stop = asyncio.Event()
    scheduler = asyncio.create_task(
        run_scheduler(stack.settings, stack.redis_url, stack.keyspace, shutdown=stop)
    )
    try:
        async with stack.worker(("jobs",)):
            ended = await giveaways.until_state(giveaway.id, "claiming")
    finally:
        stop.set()
        await asyncio.wait_for(scheduler, timeout=15)
    assert ended.ended_at is not None
    [pick] = await giveaways.picks(giveaway.id)
    assert pick.user_id in entrants


async def test_a_redis_loss_after_a_flush_loses_no_entry(
    stack: Stack, giveaways: Giveaways
) -> None:
    entrants = [user_named(stack.sandbox, name) for name in ENTRANTS]
    redis, keyspace = stack.redis, stack.keyspace
    async with stack.worker(("jobs",)):
        giveaway = await giveaways.running(stack, entrants)
        await giveaways.tick()

        async def flushed() -> bool:
            return not any(
                [await redis.scard(key) for key in keyspace.bucket_keys("giveaway_dirty_ids")]
            )

        await wait_until(flushed, within=WITHIN, what="the entries flushed")
        await stack.drained("jobs")  # the tick is over
        await redis.delete(
            keyspace.key("giveaway", giveaway.id), keyspace.key("giveaway_entries", giveaway.id)
        )
        assert await read_open(redis, keyspace, giveaway.id) is None
        await giveaways.tick()

        async def reopened() -> bool:
            found = await read_open(redis, keyspace, giveaway.id)
            return found is not None and found.open

        await wait_until(reopened, within=WITHIN, what="the giveaway reopened")
    restored = await redis.hgetall(keyspace.key("giveaway_entries", giveaway.id))
    assert {int(user) for user in restored} == set(entrants)


async def test_a_scheduled_giveaway_is_posted_when_its_start_comes(
    stack: Stack, giveaways: Giveaways, giveaway_clock: Clock
) -> None:
    async with stack.worker(("jobs",)):
        giveaway = await giveaways.running(stack, [], starts_in=3600)
        assert giveaway.message_id is None
        await giveaways.tick()  # not yet
        await stack.drained("jobs")
        assert (await giveaways.giveaway(giveaway.id)).state is GiveawayState.SCHEDULED
        giveaway_clock.advance(3600)
        await giveaways.tick()
        posted = await giveaways.until_state(giveaway.id, "running")
    message = giveaways.message(posted.message_id)
    assert message.embeds[0]["title"] == "🎉 Sticker pack"
    assert {b["label"] for b in message.components[0]["components"]} == {"Enter", "Leave"}
