"""Giveaways in the tests: the independent reference draw, members clicking the giveaway's
buttons, the tick fired as the scheduler would, the feature's clock moved forward, and
`townsquare worker` processes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import hashlib
import os
import signal
import sys
import typing

import pytest

from tests.support.paths import ROOT
from tests.support.waiting import wait_until
from tests.support.world import channel_named, user_named
from townsquare.core.guilds.service import ensure_guild
from townsquare.features.giveaways.domain import jobs
from townsquare.features.giveaways.domain.clock import CLOCK, Clock
from townsquare.features.giveaways.domain.config import GiveawaysSection
from townsquare.features.giveaways.domain.entries import enter
from townsquare.features.giveaways.domain.models import Giveaway, GiveawayPick
from townsquare.features.giveaways.domain.service import GiveawaySpec, create_giveaway

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Sequence
    from pathlib import Path

    import redis.asyncio as aioredis

    from tests.support.discord import Answer, Discord
    from tests.support.pipeline import Stack
    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox
    from townsquare.sandbox.world.models import Message

__all__ = [
    "WITHIN",
    "Giveaways",
    "candidate_order",
    "giveaway_clock",
    "giveaways",
    "worker_processes",
]

WITHIN: typing.Final = 45.0


def candidate_order(seed: str, entries: Sequence[tuple[int, int]]) -> list[int]:
    """Every entrant in the order the seed draws them, as docs/giveaways.md describes it:
    entries sorted by user id; at position k, r = SHA-256(seed || k as 8 bytes) mod the
    remaining weight, and the first entry whose running weight exceeds r leaves the pool."""
    pool = sorted(entries)
    order = []
    for position in range(len(pool)):
        digest = hashlib.sha256(bytes.fromhex(seed) + position.to_bytes(8, "big")).digest()
        target = int.from_bytes(digest, "big") % sum(weight for _, weight in pool)
        running = 0
        for index, (user_id, weight) in enumerate(pool):
            running += weight
            if running > target:
                order.append(user_id)
                del pool[index]
                break
    return order


@pytest.fixture
def giveaway_clock() -> Iterator[Clock]:
    """The giveaways' clock, moved forward by the test and put back afterwards."""
    before = CLOCK.offset_seconds
    try:
        yield CLOCK
    finally:
        CLOCK.offset_seconds = before


@dataclasses.dataclass(frozen=True, slots=True)
class Giveaways:
    """A test's view of giveaways: clicks through the sandbox, the tick, what the world shows."""

    discord: Discord
    redis: aioredis.Redis
    keyspace: Keyspace

    @property
    def sandbox(self) -> Sandbox:
        return self.discord.sandbox

    async def click(self, user: str, message: Message, label: str) -> Answer:
        """`user` presses the button `label` on `message`; the bot's (ephemeral) answer."""
        buttons = {
            b["label"]: b["custom_id"] for row in message.components for b in row["components"]
        }
        assert label in buttons, f"no {label!r} button, only {sorted(buttons)}"
        status, interaction_id = await self.discord.click(user, message, buttons[label])
        assert status == 200 and interaction_id is not None, f"click refused: {status}"
        return await self.discord.answer(interaction_id)

    async def tick(self) -> None:
        """Fire the giveaways' tick, as the scheduler does every few seconds."""
        await jobs.enqueue(self.redis, self.keyspace, 10_000, jobs.TICK_TASK)

    def message(self, message_id: int | None) -> Message:
        assert message_id is not None
        return self.sandbox.world.messages[message_id]

    async def giveaway(self, giveaway_id: int) -> Giveaway:
        return await Giveaway.get(id=giveaway_id)

    async def picks(self, giveaway_id: int) -> list[GiveawayPick]:
        return await GiveawayPick.filter(giveaway_id=giveaway_id).order_by("position")

    async def until_state(self, giveaway_id: int, *states: str) -> Giveaway:
        async def reached() -> bool:
            return str((await self.giveaway(giveaway_id)).state) in states

        await wait_until(reached, within=WITHIN, what=f"giveaway {giveaway_id} {states}")
        return await self.giveaway(giveaway_id)

    def channel_messages(self, channel_id: int, containing: str) -> list[Message]:
        return [
            m
            for m in self.sandbox.world.messages.values()
            if m.channel_id == channel_id and containing in m.content
        ]

    async def running(
        self,
        stack: Stack,
        entrants: Sequence[int],
        *,
        winners: int = 2,
        duration_seconds: int = 600,
        starts_in: float = 0,
    ) -> Giveaway:
        """A giveaway in #general, posted by the worker running in the block, with `entrants`
        entered (as their clicks would, one Lua call each); with `starts_in`, scheduled."""
        guild = stack.guild
        await ensure_guild(guild.id)
        spec = GiveawaySpec(
            prize="Sticker pack",
            duration_seconds=duration_seconds,
            winners=winners,
            channel_id=channel_named(guild, "general"),
            host_id=user_named(stack.sandbox, "mayor"),
            starts_at=CLOCK.now() + datetime.timedelta(seconds=starts_in) if starts_in else None,
        )
        defaults = stack.settings.guild_defaults.section(GiveawaysSection)
        created = await create_giveaway(guild.id, spec, defaults, CLOCK.now())
        if starts_in:
            return created
        await jobs.enqueue(self.redis, self.keyspace, 10_000, jobs.PUBLISH_TASK, created.id)
        await self.until_state(created.id, "running")
        for user_id in entrants:
            click = await enter(self.redis, self.keyspace, created.id, user_id, 1)
            assert click.status == 1, f"{user_id} could not enter: {click}"
        return await self.giveaway(created.id)

    def dms(self, user_id: int) -> list[Message]:
        """The bot's DMs to `user_id`, oldest first."""
        world = self.sandbox.world
        channels = {c.id for c in world.dm_channels.values() if user_id in c.recipient_ids}
        return sorted(
            (m for m in world.messages.values() if m.channel_id in channels), key=lambda m: m.id
        )


@pytest.fixture
def giveaways(discord: Discord, redis: aioredis.Redis, keyspace: Keyspace) -> Giveaways:
    return Giveaways(discord, redis, keyspace)


@contextlib.asynccontextmanager
async def worker_processes(
    stack: Stack, database_url: str, var_dir: Path, count: int = 2
) -> AsyncIterator[list[Path]]:
    """`count` real `townsquare worker --pipelines jobs` processes on the test's Redis
    namespace, database and sandbox (its `var/sandbox.json` in `var_dir`), each started (its
    consumer joined the group) before the block; stopped with SIGTERM after it (SIGKILL if
    they hang). Yields their log files (JSON lines)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("TOWNSQUARE")}
    env |= {
        "TOWNSQUARE__PATHS__VAR_DIR": str(var_dir),
        "TOWNSQUARE__REDIS__URL": stack.redis_url,
        "TOWNSQUARE__REDIS__NAMESPACE": stack.keyspace.namespace,
        "TOWNSQUARE__DATABASE__URL": database_url,
        "TOWNSQUARE__LOGGING__FORMAT": "json",
    }
    logs = [var_dir / f"worker-{n}.log" for n in range(count)]
    processes = []
    try:
        for log in logs:
            with log.open("wb") as output:
                processes.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        *("-m", "townsquare.cli", "worker", "--pipelines", "jobs"),
                        *("--metrics-port", "0"),
                        cwd=ROOT,
                        env=env,
                        stdout=output,
                        stderr=asyncio.subprocess.STDOUT,
                    )
                )
        for log, process in zip(logs, processes, strict=True):

            def started(log: Path = log, process: asyncio.subprocess.Process = process) -> bool:
                assert process.returncode is None, log.read_text()
                return "tasks.worker_started" in log.read_text()

            await wait_until(started, within=60, what=f"the worker of {log.name} started")
        yield logs
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()
