"""A worker SIGKILLed in the middle of a giveaway's draw: the giveaway stays `drawing`, the
tick finds the abandoned draw and another worker finishes it, once.

The doomed worker is this module run as a process (`python -m
tests.e2e.features.giveaways.test_end_kill REDIS_URL NAMESPACE DATABASE_URL VAR_DIR`): the
platform's giveaway tasks, with the draw's member re-check made to announce itself on stdout
and then hang, so the kill lands after running -> drawing and before the draw's commit."""

from __future__ import annotations

import asyncio
import sys
import typing

import pytest

from tests.support.giveaways import WITHIN
from tests.support.redis_cluster import ON_CLUSTER_TOO
from tests.support.waiting import wait_until
from tests.support.workers import doomed_worker, read_until
from tests.support.world import channel_named, user_named
from townsquare.core.keyspace import Keyspace
from townsquare.features.giveaways.domain import jobs
from townsquare.features.giveaways.domain.models import GiveawayState, PickOutcome

if typing.TYPE_CHECKING:
    from pathlib import Path

    from tests.support.giveaways import Giveaways
    from tests.support.pipeline import Stack
    from townsquare.features.giveaways.domain.clock import Clock

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]

MARKER: typing.Final = b"DRAWING"
ENTRANTS: typing.Final = ("alder", "bryony", "cedar", "dahlia")


async def test_a_worker_killed_during_the_draw_leaves_it_to_be_finished_once(
    stack: Stack,
    giveaways: Giveaways,
    giveaway_clock: Clock,
    database_url: str,
    tmp_path: Path,
) -> None:
    entrants = [user_named(stack.sandbox, name) for name in ENTRANTS]
    async with stack.worker(("jobs",)):
        giveaway = await giveaways.running(stack, entrants, winners=2)
    args = (stack.redis_url, stack.keyspace.namespace, database_url, str(tmp_path))
    async with doomed_worker(__name__, *args, log=tmp_path / "doomed.log") as doomed:
        await jobs.enqueue(
            stack.redis, stack.keyspace, 10_000, jobs.END_TASK, giveaway.id, force=True
        )
        await read_until(doomed, MARKER)
    assert (await giveaways.giveaway(giveaway.id)).state is GiveawayState.DRAWING
    assert await giveaways.picks(giveaway.id) == []
    giveaway_clock.advance(61)  # the draw is now old enough to count as abandoned
    general = channel_named(stack.guild, "general")
    async with stack.worker(("jobs",)):
        await giveaways.tick()
        await giveaways.until_state(giveaway.id, "claiming")
        await wait_until(
            lambda: bool(giveaways.channel_messages(general, "Congratulations")),
            within=WITHIN,
            what="the announcement",
        )
    picks = await giveaways.picks(giveaway.id)
    assert [p.outcome for p in picks] == [PickOutcome.PENDING, PickOutcome.PENDING]
    assert {p.user_id for p in picks} <= set(entrants)
    assert len(giveaways.channel_messages(general, "Congratulations")) == 1


def _main() -> None:
    from townsquare.core.db import connect
    from townsquare.core.settings import load_settings
    from townsquare.features.giveaways import tasks
    from townsquare.tasks.worker import run_worker

    redis_url, namespace, database_url, var_dir = sys.argv[1:5]

    def hanging_check(*_: object) -> typing.Any:
        async def check(_: int) -> str | None:
            print(MARKER.decode(), flush=True)  # the test reads it
            await asyncio.Event().wait()
            return None

        return check

    tasks.member_check = hanging_check  # type: ignore[assignment]
    settings = load_settings(
        environ={
            "TOWNSQUARE__PATHS__VAR_DIR": var_dir,
            "TOWNSQUARE__TASKS__RECLAIM_INTERVAL_SECONDS": "600",
        },
        env_file=None,
    )

    async def work() -> None:
        async with connect(database_url):
            await run_worker(settings, redis_url, Keyspace(namespace), ["jobs"])

    asyncio.run(work())


if __name__ == "__main__":
    _main()
