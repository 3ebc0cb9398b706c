"""One chaos run: start the platform, put it to work, run the fault script, drain, check."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import typing

from tests.chaos.cards import check_every_stream_carded
from tests.chaos.checks import all_drained, check_after_stop, check_everything, xp_counted
from tests.chaos.claims import check_claims
from tests.chaos.escalation import check_escalation
from tests.chaos.faults import Faults, full_script, short_script
from tests.chaos.load import Activity, configure_guild
from tests.chaos.system import running_system
from tests.support.waiting import wait_until

if typing.TYPE_CHECKING:
    from pathlib import Path

    from tests.chaos.cards import check_every_stream_carded
from tests.chaos.checks import Check

__all__ = ["Options", "Report", "run_chaos"]


@dataclasses.dataclass(frozen=True, slots=True)
class Options:
    workdir: Path
    short: bool = False
    duration: float = 300.0
    """Seconds of faults in the full run (whole rounds: a round takes about four minutes)."""
    crowd_rate: float = 4.0
    seed: int = 17
    drain_seconds: float = 120.0
    claims: bool | None = None
    """Winners claim and unclaimed wins are rerolled (default: in the full run only; the
    30 s claim windows would lengthen the short run's drain by a minute)."""
    server_database_url: str | None = None
    """A PostgreSQL server for the run's scratch database (default: the test server's, else
    an embedded one)."""


@dataclasses.dataclass
class Report:
    faults: dict[str, int]
    fault_log: list[str]
    checks: list[Check]
    seconds: float
    messages: int
    rest_faulted: int

    @property
    def held(self) -> bool:
        return all(check.held for check in self.checks)

    def table(self) -> str:
        lines = ["| fault | count |", "| --- | --- |"]
        lines += [f"| {kind} | {count} |" for kind, count in sorted(self.faults.items())]
        lines += ["", "| invariant | held | numbers |", "| --- | --- | --- |"]
        lines += [
            f"| {c.name} | {'yes' if c.held else '**NO**'} | {c.detail.replace('|', '/')} |"
            for c in self.checks
        ]
        return "\n".join(lines)


async def run_chaos(options: Options) -> Report:
    began = time.monotonic()
    async with running_system(
        options.workdir, seed=options.seed, server_database_url=options.server_database_url
    ) as system:
        await configure_guild(system)
        await system.ready()
        claims = not options.short if options.claims is None else options.claims
        activity = Activity(system, options.seed, claims=claims)
        faults = Faults(system, outage_seconds=30.0, recovery_seconds=3.0 if options.short else 5.0)
        if options.short:
            await activity.start(options.crowd_rate, giveaway_every=6.0, ask_every=5.0)
            await asyncio.sleep(3)
            await short_script(faults)
        else:
            await activity.start(options.crowd_rate, giveaway_every=20.0, ask_every=10.0)
            await asyncio.sleep(10)
            await full_script(faults, options.duration)
        await activity.stop()
        print(f"chaos: draining ({len(system.sent)} messages sent)", flush=True)
        await wait_until(
            lambda: xp_counted(system), within=options.drain_seconds, what="XP counted"
        )
        await wait_until(lambda: all_drained(system), within=options.drain_seconds, what="drained")
        await wait_until(
            lambda: _giveaways_done(system, claims=activity.claims),
            within=options.drain_seconds,
            what="giveaways ended",
        )
        await activity.stop_claims()
        await asyncio.sleep(5)  # last notices and edits
        await wait_until(lambda: all_drained(system), within=options.drain_seconds, what="drained")
        checks = await check_everything(system, activity, faults)
        checks += await check_escalation(system)
        checks += check_every_stream_carded(system, activity.streams, activity.stopped_at)
        if activity.claims:
            checks += await check_claims(system, activity)
        pids = system.supervisor.pids()
    checks += check_after_stop(system, pids, faults.last_kill)
    return Report(
        faults=dict(faults.counts),
        fault_log=faults.log,
        checks=checks,
        seconds=time.monotonic() - began,
        messages=len(system.sent),
        rest_faulted=faults.fired(),
    )


async def _giveaways_done(system: typing.Any, *, claims: bool) -> bool:
    """Every giveaway past its draw (and, with claims, past its claims and rerolls)."""
    from townsquare.features.giveaways.domain.models import Giveaway, GiveawayState

    waiting = [GiveawayState.SCHEDULED, GiveawayState.RUNNING, GiveawayState.DRAWING]
    return not await Giveaway.filter(
        guild_id=system.guild_id, state__in=[*waiting, *[GiveawayState.CLAIMING] * claims]
    ).exists()
