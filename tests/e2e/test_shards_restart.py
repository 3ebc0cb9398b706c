"""A shard process SIGKILLed or SIGTERMed during a steady message flow, then started again as
the supervisor would: every message reaches the xp stream, and XP counts each exactly once.

The sandbox (in this test's event loop), real Redis and PostgreSQL; the shard processes are
the real CLI, `townsquare shards --shard-ids ... --shard-count N`, running the real hikari
client against the sandbox: one shard, or two shards in one process with a guild on each. The
restarted process must RESUME the first process's sessions (the sandbox keeps them for its
resume window), so Discord replays the messages of the gap.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import sys
import typing
from pathlib import Path

import pytest

from tests.support.paths import SCENARIOS
from tests.support.shards import message_ids
from tests.support.waiting import wait_until
from tests.support.workers import running_worker, settings_with
from tests.support.xp import configure, drained
from townsquare.core.discord import SANDBOX_INFO_FILE, write_sandbox_info
from townsquare.core.guilds.service import ensure_guild
from townsquare.sandbox import Sandbox
from townsquare.tasks.registry import load_tasks

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from tests.support.backends import Backends
    from townsquare.sandbox.world.models import Guild

pytestmark = pytest.mark.integration

WITHIN = 30.0
MESSAGES = 100
KILL_AFTER = 30
"""The signal lands once this many messages are in the stream."""
PACE_SECONDS = 0.05
"""20 messages a second: the flow keeps going while the process stops and starts again."""
FOUR_SHARDS = SCENARIOS / "four_shards.yaml"
"""Eight guilds, alternating between shards 0 and 1 of 2."""


class ShardProcess:
    """`townsquare shards` for every shard of `shard_count`, as the supervisor starts it."""

    def __init__(self, environ: dict[str, str], log: Path, shard_count: int) -> None:
        self._environ = environ
        self._log = log
        self._shard_count = shard_count
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        ids = ",".join(str(n) for n in range(self._shard_count))
        with self._log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "townsquare.cli",
                "shards",
                "--shard-ids",
                ids,
                "--shard-count",
                str(self._shard_count),
                env=self._environ,
                stdout=log,
                stderr=log,
            )

    async def stop(self, sig: signal.Signals) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(sig)
        async with asyncio.timeout(WITHIN):
            return await self.process.wait()

    def check_alive(self) -> None:
        assert self.process is not None
        if self.process.returncode is not None:
            raise AssertionError(f"the shard process exited with {self.process.returncode}")


def one_guild_per_shard(sandbox: Sandbox, shard_count: int) -> list[Guild]:
    guilds = list(sandbox.world.guilds.values())
    return [next(g for g in guilds if (g.id >> 22) % shard_count == n) for n in range(shard_count)]


@contextlib.asynccontextmanager
async def steady_flow(sandbox: Sandbox, guilds: Sequence[Guild]) -> AsyncIterator[list[int]]:
    """Posts `MESSAGES` messages at a steady pace, in turn in each guild's general channel by
    one member; yields their ids so far."""
    bot = sandbox.world.application.bot_user_id
    places = [
        (
            next(c for c in guild.channels.values() if c.name == "general"),
            next(m for m in guild.members if m != bot),
        )
        for guild in guilds
    ]
    sent: list[int] = []

    async def post() -> None:
        for n in range(MESSAGES):
            channel, author = places[n % len(places)]
            sent.append(sandbox.world.create_message(channel, author, f"steady {n}").id)
            await asyncio.sleep(PACE_SECONDS)  # the flow's pace, not a wait for anything

    task = asyncio.create_task(post())
    try:
        yield sent
        await task
    finally:
        task.cancel()


@pytest.mark.parametrize(
    ("sig", "shard_count"),
    [(signal.SIGKILL, 1), (signal.SIGTERM, 1), (signal.SIGKILL, 2)],
    ids=["sigkill", "sigterm", "sigkill-two-shards"],
)
async def test_a_shard_process_stopped_mid_flow_resumes_and_loses_no_message(
    sig: signal.Signals, shard_count: int, backends: Backends, tmp_path: Path
) -> None:
    redis, redis_url, keyspace, database_url = backends
    sandbox = Sandbox(scenario=FOUR_SHARDS if shard_count > 1 else "demo")
    async with sandbox as info:
        guilds = one_guild_per_shard(sandbox, shard_count)
        for guild in guilds:
            await ensure_guild(guild.id)
            await configure(guild.id)
        write_sandbox_info(tmp_path / SANDBOX_INFO_FILE, info.as_json())
        environ = os.environ | {
            "TOWNSQUARE__REDIS__URL": redis_url,
            "TOWNSQUARE__REDIS__NAMESPACE": keyspace.namespace,
            "TOWNSQUARE__DATABASE__URL": database_url,
            "TOWNSQUARE__PATHS__VAR_DIR": str(tmp_path),
        }
        shards = ShardProcess(environ, tmp_path / "shards.log", shard_count)
        session_keys = [keyspace.key("shard_session", n) for n in range(shard_count)]

        async def sessions() -> list[bytes | None]:
            return [await redis.hget(key, "session_id") for key in session_keys]

        await shards.start()

        async def recorded() -> bool:  # READY and GUILD_CREATE are in the stream: recorded
            shards.check_alive()
            return all(await sessions())

        await wait_until(recorded, within=WITHIN, what="the first process's sessions recorded")
        first_sessions = await sessions()

        async with steady_flow(sandbox, guilds) as sent:

            async def enough() -> bool:
                shards.check_alive()
                return len(await message_ids(redis, keyspace)) >= KILL_AFTER

            await wait_until(enough, within=WITHIN, what=f"{KILL_AFTER} messages in the stream")
            code = await shards.stop(sig)
            assert code == (-signal.SIGKILL if sig is signal.SIGKILL else 0)
            await shards.start()  # the supervisor's restart
        assert len(sent) == MESSAGES

        async def all_arrived() -> bool:
            shards.check_alive()
            return set(await message_ids(redis, keyspace)) >= set(sent)

        await wait_until(all_arrived, within=WITHIN, what="every message in the stream")
        assert await shards.stop(signal.SIGTERM) == 0
        # The restarted process resumed the first sessions rather than identifying new ones.
        assert await sessions() == first_sessions

    published = collections.Counter(await message_ids(redis, keyspace))
    assert set(published) == set(sent)
    if sig is signal.SIGTERM:  # a clean stop records exactly what it delivered
        assert max(published.values()) == 1
    async with running_worker(settings_with(), redis_url, keyspace, load_tasks(), ("xp",)):
        await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="drained")
    counted = 0
    for guild in guilds:
        counted += sum(int(v) for v in await redis.hvals(keyspace.key("xp_messages", guild.id)))
    assert counted == MESSAGES
