"""The fault script: SIGKILLs of every process kind and of Valkey, Redis, PostgreSQL and the
internal API unreachable, gateway storms, slow and failing Discord REST.

Faults run one after another (never two at once), each followed by a short recovery, so
every alert and every check can be tied to one fault.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import os
import signal
import time
import typing

from tests.chaos.system import CHILDREN
from tests.support.waiting import wait_until

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tests.chaos.system import System

__all__ = ["Faults", "full_script", "short_script"]

GAP_MARGIN_SECONDS: typing.Final = 5.0
"""A resumed session replays what it missed; allow for the replay after the connection."""
IN_FLIGHT_SECONDS: typing.Final = 1.0
"""Before a shard process's SIGKILL: an interaction it had received and not answered yet dies
with it. Its replay to the restarted process comes after Discord's 3 s, so on Discord too it
fails ("This interaction failed"); a gateway gap starts this long before the kill."""

REST_FAULTS: typing.Final = (
    {"status": 503, "probability": 0.3},
    {"status": 429, "retry_after": 1.0, "probability": 0.2},
    {"delay_ms": 1500, "probability": 0.3},
    {"status": 500, "when": "after", "probability": 0.1},
)
"""Discord slow and failing: 503s, 429s, 1.5 s answers, and answers lost after the call ran."""


@dataclasses.dataclass
class Faults:
    """What the script did: counts per fault, and the outages' windows (wall clock)."""

    system: System
    outage_seconds: float = 30.0
    recovery_seconds: float = 5.0
    counts: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    outages: list[tuple[str, float, float]] = dataclasses.field(default_factory=list)
    log: list[str] = dataclasses.field(default_factory=list)
    last_kill: float = 0.0
    """When a child was last SIGKILLed (epoch seconds): its locks lapse by their TTL."""
    restarts: list[tuple[str, float, float]] = dataclasses.field(default_factory=list)
    """(child, SIGKILL, started again and recovered): epoch seconds."""
    gateway_gaps: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    """When the bot could not see the gateway (a shard process dead, a storm): an interaction
    made then may reach it after Discord's 3 s, as on Discord ("This interaction failed")."""

    rest_storms: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    """When Discord's REST failed on purpose: an interaction's first response may be refused
    or late then (Discord's own fault, "This interaction failed" on Discord too)."""

    def _note(self, what: str) -> None:
        self.counts[what] += 1
        self.log.append(f"{time.strftime('%H:%M:%S')} {what}")
        print(f"chaos: {self.log[-1]}", flush=True)

    async def kill(self, child: str) -> None:
        """SIGKILL one child; the supervisor starts it again."""
        supervisor = self.system.supervisor
        pid = supervisor.pids().get(child)
        if pid is None:
            return
        start = time.time()
        os.kill(pid, signal.SIGKILL)
        self.last_kill = start
        self._note(f"SIGKILL {child.split('-', maxsplit=1)[0]}")
        await wait_until(
            lambda: supervisor.pids().get(child, pid) != pid,
            within=30,
            what=f"{child} started again",
        )
        if child == "shards":
            await wait_until(self._attached, within=60, what="the shard's session taken up again")
            self.gateway_gaps.append((start - IN_FLIGHT_SECONDS, time.time() + GAP_MARGIN_SECONDS))
        await asyncio.sleep(self.recovery_seconds)
        self.restarts.append((child, start, time.time()))

    def _attached(self) -> bool:
        """A connection holds the bot's gateway session again (resumed or identified)."""
        sessions = self.system.sandbox.hub.sessions.values()
        return any(session.outbox is not None for session in sessions)

    async def _outage(
        self, kind: str, cut: Callable[[], Awaitable[None]], restore: Callable[[], Awaitable[None]]
    ) -> None:
        start = time.time()
        await cut()
        self._note(kind)
        await asyncio.sleep(self.outage_seconds)
        await restore()
        self.outages.append((kind, start, time.time()))
        await asyncio.sleep(self.recovery_seconds * 2)

    async def redis_unreachable(self) -> None:
        proxy = self.system.redis_proxy
        await self._outage("Redis unreachable", proxy.cut, proxy.restore)

    async def postgres_unreachable(self) -> None:
        proxy = self.system.database_proxy
        await self._outage("PostgreSQL unreachable", proxy.cut, proxy.restore)

    async def internal_api_down(self) -> None:
        proxy = self.system.api_proxy
        await self._outage("internal API down", proxy.cut, proxy.restore)

    async def valkey_kill(self) -> None:
        """SIGKILL Valkey, start it again on its AOF (`System.kill_valkey`)."""
        start = time.time()
        await self.system.kill_valkey()
        self._note("Valkey SIGKILLed and started again (AOF)")
        self.outages.append(("Valkey killed", start, time.time()))
        await asyncio.sleep(self.recovery_seconds * 2)

    async def gateway_storm(self, rounds: int = 4) -> None:
        """Drops, RECONNECTs and resumable INVALID_SESSIONs, back to back."""
        start = time.time()
        for _ in range(rounds):
            for path, body in (
                ("/gateway/drop", {}),
                ("/gateway/reconnect", {}),
                ("/gateway/invalid-session", {"resumable": True}),
            ):
                await self.system.control("POST", path, body)
                self._note(f"gateway {path.rsplit('/', 1)[1]}")
                await asyncio.sleep(1.0)
        await wait_until(self._attached, within=60, what="the shard's session taken up again")
        self.gateway_gaps.append((start, time.time() + GAP_MARGIN_SECONDS))
        await asyncio.sleep(self.recovery_seconds)

    async def rest_storm(self, seconds: float = 20.0) -> None:
        """Discord's REST slow, 429, 5xx and losing answers, for `seconds`."""
        start = time.time()
        for rule in REST_FAULTS:
            await self.system.control("POST", "/faults/rest", {**rule, "duration": seconds})
        self._note("Discord REST slow/429/5xx")
        await asyncio.sleep(seconds)
        await self.system.control("DELETE", "/faults/rest")
        self.rest_storms.append((start, time.time() + GAP_MARGIN_SECONDS))
        await asyncio.sleep(self.recovery_seconds)

    def fired(self) -> int:
        """REST calls the rules touched (from the sandbox's call log)."""
        return sum(1 for call in self.system.sandbox.rest.calls if call.fault is not None)


async def short_script(faults: Faults) -> None:
    """`make test`'s run: a worker, Valkey and the shards SIGKILLed."""
    await faults.kill("worker-a")
    await faults.valkey_kill()
    await faults.kill("shards")


async def full_script(faults: Faults, duration: float) -> None:
    """Rounds of every fault until `duration` seconds have passed (a round always completes)."""
    deadline = time.monotonic() + duration
    while True:
        for child in (*CHILDREN, *CHILDREN):
            await faults.kill(child)
        await faults.gateway_storm()
        await faults.rest_storm()
        await faults.redis_unreachable()
        await faults.postgres_unreachable()
        await faults.internal_api_down()
        await faults.valkey_kill()
        if time.monotonic() >= deadline:
            return
