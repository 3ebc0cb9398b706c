"""A shard process SIGKILLed or SIGTERMed during a steady message flow, then started again as
the supervisor would: every message reaches the xp stream, and XP counts each exactly once.

The sandbox (in this test's event loop), real Redis and PostgreSQL; the shard processes are
the real CLI, `townsquare shards --shard-ids 0 --shard-count 1`, running the real hikari
client against the sandbox. The restarted process must RESUME the first process's session
(the sandbox keeps it for its resume window), so Discord replays the messages of the gap.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import sys
import typing

import pytest

from tests.integration.test_tasks_support import running_worker, settings_with, wait_until
from tests.integration.test_xp_support import configure, drained
from townsquare.core.discord import SANDBOX_INFO_FILE, write_sandbox_info
from townsquare.core.events.wire import DATA_FIELD
from townsquare.core.guilds.service import ensure_guild
from townsquare.sandbox import Sandbox
from townsquare.tasks.registry import load_tasks
from townsquare.tasks.xp import forget_cached_configs

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = pytest.mark.integration

WITHIN = 30.0
MESSAGES = 100
KILL_AFTER = 30
"""The signal lands once this many messages are in the stream."""
PACE_SECONDS = 0.05
"""20 messages a second: the flow keeps going while the process stops and starts again."""


async def message_ids(redis: aioredis.Redis, keyspace: Keyspace) -> list[int]:
    """The message id of every message record in the xp stream, duplicates included."""
    ids = []
    for _, fields in await redis.xrange(keyspace.key("stream", "xp")):
        (records,) = json.loads(fields[DATA_FIELD.encode()])["args"]
        ids += [int(r["message_id"]) for r in records if r["kind"] == "message"]
    return ids


class ShardProcess:
    """`townsquare shards` for shard 0 of 1, as the supervisor starts it."""

    def __init__(self, environ: dict[str, str], log: Path) -> None:
        self._environ = environ
        self._log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self._log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "townsquare.cli",
                "shards",
                "--shard-ids",
                "0",
                "--shard-count",
                "1",
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


@contextlib.asynccontextmanager
async def steady_flow(sandbox: Sandbox) -> AsyncIterator[list[int]]:
    """Posts `MESSAGES` messages from one member at a steady pace; yields their ids so far."""
    guild = next(iter(sandbox.world.guilds.values()))
    general = next(c for c in guild.channels.values() if c.name == "general")
    author = next(m for m in guild.members if m != sandbox.world.application.bot_user_id)
    sent: list[int] = []

    async def post() -> None:
        for n in range(MESSAGES):
            sent.append(sandbox.world.create_message(general, author, f"steady {n}").id)
            await asyncio.sleep(PACE_SECONDS)  # the flow's pace, not a wait for anything

    task = asyncio.create_task(post())
    try:
        yield sent
        await task
    finally:
        task.cancel()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
async def test_a_shard_process_stopped_mid_flow_resumes_and_loses_no_message(
    sig: signal.Signals,
    redis: aioredis.Redis,
    redis_url: str,
    keyspace: Keyspace,
    database_url: str,
    orm: None,
    tmp_path: Path,
) -> None:
    sandbox = Sandbox()
    async with sandbox as info:
        guild = next(iter(sandbox.world.guilds.values()))
        forget_cached_configs()
        await ensure_guild(guild.id)
        await configure(guild.id)
        write_sandbox_info(tmp_path / SANDBOX_INFO_FILE, info.as_json())
        environ = os.environ | {
            "TOWNSQUARE__REDIS__URL": redis_url,
            "TOWNSQUARE__REDIS__NAMESPACE": keyspace.namespace,
            "TOWNSQUARE__DATABASE__URL": database_url,
            "TOWNSQUARE__PATHS__VAR_DIR": str(tmp_path),
        }
        shards = ShardProcess(environ, tmp_path / "shards.log")
        session_key = keyspace.key("shard_session", 0)

        await shards.start()

        async def recorded() -> bool:  # READY and GUILD_CREATE are in the stream: recorded
            shards.check_alive()
            return bool(await redis.hget(session_key, "session_id"))

        await wait_until(recorded, within=WITHIN, what="the first process's session recorded")
        first_session = await redis.hget(session_key, "session_id")

        async with steady_flow(sandbox) as sent:

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
        # The restarted process resumed the first session rather than identifying a new one.
        assert await redis.hget(session_key, "session_id") == first_session

    published = collections.Counter(await message_ids(redis, keyspace))
    assert set(published) == set(sent)
    if sig is signal.SIGTERM:  # a clean stop records exactly what it delivered
        assert max(published.values()) == 1
    async with running_worker(settings_with(), redis_url, keyspace, load_tasks(), ("xp",)):
        await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="drained")
    counted = await redis.hvals(keyspace.key("xp_messages", guild.id))
    assert sum(int(v) for v in counted) == MESSAGES
