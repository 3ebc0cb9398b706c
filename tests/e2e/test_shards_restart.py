"""A shard process SIGKILLed during a steady message flow, then started again as the supervisor
would, and a rolling restart (SIGTERM, start again, one process at a time) of two cluster
processes that first identified under one identify limit: every message reaches the xp
stream, and XP counts each exactly once.

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

import aiohttp
import pytest

from tests.support.paths import SCENARIOS
from tests.support.shards import message_ids
from tests.support.waiting import wait_until
from tests.support.workers import running_worker, settings_with
from tests.support.xp import configure, drained
from townsquare.core.discord import SANDBOX_INFO_FILE, write_sandbox_info
from townsquare.core.guilds.service import ensure_guild
from townsquare.sandbox import Sandbox, SandboxSettings
from townsquare.sandbox.gateway import GatewaySettings
from townsquare.tasks.registry import load_tasks

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence

    import redis.asyncio as aioredis

    from tests.support.backends import Backends
    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox.world.models import Guild

pytestmark = pytest.mark.integration

WITHIN = 60.0
MESSAGES = 100
KILL_AFTER = 30
"""The signal lands once this many messages are in the stream."""
PACE_SECONDS = 0.05
"""20 messages a second: the flow keeps going while the process stops and starts again."""
FOUR_SHARDS = SCENARIOS / "four_shards.yaml"
"""Eight guilds, alternating between shards 0 and 1 of 2."""


class ShardProcess:
    """`townsquare shards` with `options`, as the supervisor (or systemd) starts it."""

    def __init__(self, environ: dict[str, str], log: Path, options: Sequence[str]) -> None:
        self._environ = environ
        self._log = log
        self._options = list(options)
        self.process: asyncio.subprocess.Process | None = None

    @classmethod
    def every_shard(cls, environ: dict[str, str], log: Path, shard_count: int) -> ShardProcess:
        ids = ",".join(str(n) for n in range(shard_count))
        return cls(environ, log, ["--shard-ids", ids, "--shard-count", str(shard_count)])

    async def start(self) -> None:
        with self._log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "townsquare.cli",
                "shards",
                *self._options,
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

    async def kill(self) -> None:
        """SIGKILL it if it still runs (a failed test leaves nothing behind)."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    def check_alive(self) -> None:
        assert self.process is not None
        if self.process.returncode is not None:
            raise AssertionError(f"the shard process exited with {self.process.returncode}")


def one_guild_per_shard(sandbox: Sandbox, shard_count: int) -> list[Guild]:
    guilds = list(sandbox.world.guilds.values())
    return [next(g for g in guilds if (g.id >> 22) % shard_count == n) for n in range(shard_count)]


def recorded_sessions(
    redis: aioredis.Redis, keyspace: Keyspace, shard_count: int
) -> Callable[[], Awaitable[list[bytes | str | None]]]:
    """Reads the session id recorded for each shard (None: none recorded)."""
    keys = [keyspace.key("shard_session", n) for n in range(shard_count)]

    async def sessions() -> list[bytes | str | None]:
        return [await redis.hget(key, "session_id") for key in keys]

    return sessions


def gated_sandbox(max_concurrency: int) -> Sandbox:
    """The four-shard world behind a gateway enforcing `max_concurrency` and
    :data:`IDENTIFY_INTERVAL` between a bucket's IDENTIFYs."""
    gateway = GatewaySettings(max_concurrency=max_concurrency, identify_interval=IDENTIFY_INTERVAL)
    return Sandbox(scenario=FOUR_SHARDS, settings=SandboxSettings(gateway=gateway))


async def gateway_log(http: aiohttp.ClientSession, control_url: str) -> dict[str, typing.Any]:
    """The sandbox's record of IDENTIFYs and RESUMEs (`GET /_sandbox/gateway/identifies`)."""
    async with http.get(control_url + "/gateway/identifies") as response:
        return typing.cast("dict[str, typing.Any]", await response.json())


@contextlib.asynccontextmanager
async def steady_flow(
    sandbox: Sandbox, guilds: Sequence[Guild], messages: int = MESSAGES
) -> AsyncIterator[list[int]]:
    """Posts `messages` messages at a steady pace, in turn in each guild's general channel by
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
        for n in range(messages):
            channel, author = places[n % len(places)]
            sent.append(sandbox.world.create_message(channel, author, f"steady {n}").id)
            await asyncio.sleep(PACE_SECONDS)  # the flow's pace, not a wait for anything

    task = asyncio.create_task(post())
    try:
        yield sent
        await task
    finally:
        task.cancel()


async def prepare(
    sandbox: Sandbox,
    shard_count: int,
    backends: Backends,
    tmp_path: Path,
    info: Mapping[str, str] | None = None,
) -> tuple[list[Guild], dict[str, str]]:
    """One configured guild per shard, the sandbox's file (with `info` over the sandbox's),
    and the shard processes' env."""
    _, redis_url, keyspace, database_url = backends
    guilds = one_guild_per_shard(sandbox, shard_count)
    for guild in guilds:
        await ensure_guild(guild.id)
        await configure(guild.id)
    write_sandbox_info(tmp_path / SANDBOX_INFO_FILE, sandbox.info.as_json() | dict(info or {}))
    environ = os.environ | {
        "TOWNSQUARE__REDIS__URL": redis_url,
        "TOWNSQUARE__REDIS__NAMESPACE": keyspace.namespace,
        "TOWNSQUARE__DATABASE__URL": database_url,
        "TOWNSQUARE__PATHS__VAR_DIR": str(tmp_path),
        "TOWNSQUARE__METRICS__SHARDS_PORT": "0",  # several processes on one host
    }
    return guilds, environ


async def check_delivery(
    backends: Backends, guilds: Sequence[Guild], sent: Sequence[int], *, once: bool
) -> None:
    """Every message in the xp stream (`once`: exactly once), and XP counting each once."""
    redis, redis_url, keyspace, _ = backends
    published = collections.Counter(await message_ids(redis, keyspace))
    assert set(published) == set(sent)
    if once:  # a clean stop records exactly what it delivered
        assert max(published.values()) == 1
    async with running_worker(settings_with(), redis_url, keyspace, load_tasks(), ("xp",)):
        await wait_until(lambda: drained(redis, keyspace, "xp"), within=WITHIN, what="drained")
    counted = 0
    for guild in guilds:
        counted += sum(int(v) for v in await redis.hvals(keyspace.key("xp_messages", guild.id)))
    assert counted == len(sent)


@pytest.mark.long
@pytest.mark.parametrize("shard_count", [1, 2], ids=["sigkill", "sigkill-two-shards"])
async def test_a_shard_process_killed_mid_flow_resumes_and_loses_no_message(
    shard_count: int, backends: Backends, tmp_path: Path
) -> None:
    """SIGKILL; SIGTERM is the rolling restart's (below)."""
    redis, _, keyspace, _ = backends
    sandbox = Sandbox(scenario=FOUR_SHARDS if shard_count > 1 else "demo")
    async with sandbox, contextlib.AsyncExitStack() as stack:
        guilds, environ = await prepare(sandbox, shard_count, backends, tmp_path)
        shards = ShardProcess.every_shard(environ, tmp_path / "shards.log", shard_count)
        stack.push_async_callback(shards.kill)
        sessions = recorded_sessions(redis, keyspace, shard_count)
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
            assert await shards.stop(signal.SIGKILL) == -signal.SIGKILL
            await shards.start()  # the supervisor's restart
        assert len(sent) == MESSAGES

        async def all_arrived() -> bool:
            shards.check_alive()
            return set(await message_ids(redis, keyspace)) >= set(sent)

        await wait_until(all_arrived, within=WITHIN, what="every message in the stream")
        assert await shards.stop(signal.SIGTERM) == 0
        # The restarted process resumed the first sessions rather than identifying new ones.
        assert await sessions() == first_sessions

    await check_delivery(backends, guilds, sent, once=False)


CLUSTERS = 2
CLUSTER_SHARDS = 4
"""Shards 0,1 (cluster 0) and 2,3 (cluster 1): with max_concurrency 2, each process has a
shard in each identify bucket, so the two processes contend for both buckets at start."""
SHARD_COUNT = ("--shard-count", str(CLUSTER_SHARDS))
IDENTIFY_INTERVAL = 1.5
"""The sandbox's enforced gap between two IDENTIFYs of a bucket (Discord's 5 s, shortened)."""
IDENTIFY_PACE = 2.0
"""The gap the shards are told (the sandbox's file) to keep: the 0.5 s of slack absorbs this
busy test loop reading one IDENTIFY later than the other; the processes still contend for
both buckets at start, and identify two at a time without the gate (2 violations)."""
ROLLING_MESSAGES = 160
"""8 s of flow: long enough to restart both processes in turn while it runs."""


@pytest.mark.long
async def test_two_clusters_identify_within_the_limit_and_restart_in_turn_losing_nothing(
    backends: Backends, tmp_path: Path
) -> None:
    """Two `townsquare shards --cluster I --clusters 2` processes (as on two hosts) start at
    once against a gateway enforcing max_concurrency 2: the identify gate spaces each bucket's
    IDENTIFYs, so the sandbox refuses none. Then a rolling restart during a steady flow
    (SIGTERM one process, start it again, wait until it has resumed, then the next): every
    session is resumed, none identified again, and every message arrives exactly once."""
    redis, _, keyspace, _ = backends
    sandbox = gated_sandbox(max_concurrency=2)
    async with (
        sandbox as info,
        aiohttp.ClientSession() as http,
        contextlib.AsyncExitStack() as stack,
    ):
        pace = {"identify_interval": str(IDENTIFY_PACE)}
        guilds, environ = await prepare(sandbox, CLUSTER_SHARDS, backends, tmp_path, pace)
        clusters = [
            ShardProcess(
                environ,
                tmp_path / f"cluster{n}.log",
                ["--cluster", str(n), "--clusters", str(CLUSTERS), *SHARD_COUNT],
            )
            for n in range(CLUSTERS)
        ]
        sessions = recorded_sessions(redis, keyspace, CLUSTER_SHARDS)

        for cluster in clusters:
            stack.push_async_callback(cluster.kill)
        for cluster in clusters:
            await cluster.start()

        async def recorded() -> bool:
            for cluster in clusters:
                cluster.check_alive()
            return all(await sessions())

        await wait_until(recorded, within=WITHIN, what="every cluster's sessions recorded")
        first_sessions = await sessions()
        started = await gateway_log(http, info.control_url)
        assert started["violations"] == 0, started
        assert sorted(i["shard_id"] for i in started["identifies"]) == [0, 1, 2, 3]
        for bucket in (0, 1):
            times = [i["at"] for i in started["identifies"] if i["bucket"] == bucket]
            assert len(times) == 2
            assert abs(times[1] - times[0]) >= IDENTIFY_INTERVAL

        async with steady_flow(sandbox, guilds, ROLLING_MESSAGES) as sent:

            async def flowing() -> bool:
                return len(await message_ids(redis, keyspace)) >= KILL_AFTER

            await wait_until(flowing, within=WITHIN, what=f"{KILL_AFTER} messages in the stream")
            for n, cluster in enumerate(clusters):
                assert await cluster.stop(signal.SIGTERM) == 0
                await cluster.start()
                # Its two shards resumed (the sandbox counts) before the next one stops.
                resumed = 2 * (n + 1)
                await wait_until(
                    lambda r=resumed: sandbox.hub.resumes >= r,
                    within=WITHIN,
                    what=f"cluster {n} resumed",
                )
        assert len(sent) == ROLLING_MESSAGES

        async def all_arrived() -> bool:
            for cluster in clusters:
                cluster.check_alive()
            return set(await message_ids(redis, keyspace)) >= set(sent)

        await wait_until(all_arrived, within=WITHIN, what="every message in the stream")
        for cluster in clusters:
            assert await cluster.stop(signal.SIGTERM) == 0
        rolled = await gateway_log(http, info.control_url)
        assert rolled["identifies"] == started["identifies"]  # no session identified again
        assert rolled["violations"] == 0
        assert rolled["resumes"] >= CLUSTER_SHARDS  # more only if a connection dropped too
        assert await sessions() == first_sessions

    await check_delivery(backends, guilds, sent, once=True)


HIKARI_WINDOW_SECONDS = 5.0
"""hikari's smallest `startup_window_delay`: between two start windows of one process."""


async def test_a_process_resumes_all_its_shards_at_once_in_one_identify_bucket(
    backends: Backends, tmp_path: Path
) -> None:
    """Two shards of one process in the same identify bucket (max_concurrency 1): hikari would
    start them in two windows 5 s apart, RESUMEs included. With the identify gate pacing the
    IDENTIFYs, the process starts both at once: the IDENTIFYs are still a bucket's interval
    apart, and after a restart both sessions are resumed together, none identified again."""
    redis, _, keyspace, _ = backends
    sandbox = gated_sandbox(max_concurrency=1)
    async with (
        sandbox as info,
        aiohttp.ClientSession() as http,
        contextlib.AsyncExitStack() as stack,
    ):
        pace = {"identify_interval": str(IDENTIFY_PACE)}
        _, environ = await prepare(sandbox, 2, backends, tmp_path, pace)
        shards = ShardProcess.every_shard(environ, tmp_path / "shards.log", 2)
        stack.push_async_callback(shards.kill)
        sessions = recorded_sessions(redis, keyspace, 2)

        await shards.start()

        async def recorded() -> bool:
            shards.check_alive()
            return all(await sessions())

        await wait_until(recorded, within=WITHIN, what="both sessions recorded")
        started = await gateway_log(http, info.control_url)
        assert started["violations"] == 0, started
        first, second = (i["at"] for i in started["identifies"])
        assert second - first >= IDENTIFY_INTERVAL  # the gate still spaces the bucket
        first_sessions = await sessions()

        assert await shards.stop(signal.SIGTERM) == 0
        await shards.start()
        await wait_until(lambda: sandbox.hub.resumes >= 2, within=WITHIN, what="both resumed")
        rolled = await gateway_log(http, info.control_url)
        assert sorted(r["shard_id"] for r in rolled["resumed"]) == [0, 1]
        times = [r["at"] for r in rolled["resumed"]]
        # One start window: hikari's second window would open 5 s after the first shard's.
        assert max(times) - min(times) < HIKARI_WINDOW_SECONDS, rolled["resumed"]
        assert rolled["identifies"] == started["identifies"]
        assert await shards.stop(signal.SIGTERM) == 0
        assert await sessions() == first_sessions
