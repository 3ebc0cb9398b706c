"""The pipeline benchmarks' child processes, and their handles (no benchmark here).

- :class:`SandboxChild`: a sandbox in a child process whose in-process injector creates chat
  messages straight in its world (no HTTP request per message), paced or as fast as it can,
  and reports each message's id, author, time and creation instant, and the role requests
  its REST layer logged;
- :func:`shard_child`: `run_shards` (the real hikari `GatewayBot`) in a child process;
- :func:`worker_child`: `run_worker` (the platform's tasks, PostgreSQL connected) for some
  pipelines in a child process, whose CPU time :func:`cpu_seconds` reads.

Run as `python -m benchmarks._support_processes sandbox|shard|worker ...`, this module is
those children.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import typing
from pathlib import Path

from benchmarks._support import ROOT, Chat, fresh_database

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from townsquare.core.keyspace import Keyspace

__all__ = [
    "JsonLineChild",
    "SandboxChild",
    "cpu_seconds",
    "sandbox_and_database",
    "shard_child",
    "worker_child",
]

READY_TIMEOUT = 60.0
"""Seconds a child may take to start (imports, the sandbox's world)."""


# ---- the sandbox child -------------------------------------------------------------------


class JsonLineChild:
    """A child process spoken to in JSON lines: its first line is its info, then one reply
    line per request line, one request at a time."""

    def __init__(self, process: asyncio.subprocess.Process, info: dict[str, typing.Any]) -> None:
        self.process = process
        self.info = info
        self._turn = asyncio.Lock()
        """One request at a time: the replies come in the requests' order on one pipe."""

    @classmethod
    @contextlib.asynccontextmanager
    async def spawned(
        cls, module: str, args: Sequence[str], *, ready_within: float
    ) -> AsyncIterator[typing.Self]:
        """`python -m module *args`, once it printed its info line; terminated on exit."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            *args,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**24,
        )
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), ready_within)
            if not line:
                raise SystemExit(f"the child {module} exited before it was ready")
            yield cls(process, json.loads(line))
        finally:
            if process.returncode is None:
                process.terminate()
            await process.wait()

    async def request(self, **body: object) -> dict[str, typing.Any]:
        process = self.process
        assert process.stdin is not None
        assert process.stdout is not None
        async with self._turn:
            process.stdin.write(json.dumps(body).encode() + b"\n")
            await process.stdin.drain()
            line = await process.stdout.readline()
        if not line:
            raise SystemExit(f"the child exited during {body}")
        return typing.cast("dict[str, typing.Any]", json.loads(line))


class SandboxChild(JsonLineChild):
    """The pipeline benchmarks' sandbox child. `info`: the sandbox's `SandboxInfo` fields,
    plus `guild_id`, `channel_id`, `members`."""

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, *, members: int, virtual_clock: bool, unlimited_rest: bool
    ) -> AsyncIterator[SandboxChild]:
        """A sandbox with `members` chatting members. `virtual_clock`: messages get the times
        the chat asks for; `unlimited_rest`: no REST rate limits (Discord's 10 role changes
        per 10 s per guild would otherwise be what a latency run measures)."""
        args = ["sandbox", str(members), str(int(virtual_clock)), str(int(unlimited_rest))]
        async with cls.spawned(
            "benchmarks._support_processes", args, ready_within=READY_TIMEOUT
        ) as child:
            yield child

    async def chat(
        self,
        count: int,
        *,
        rate: float = 0.0,
        start_ms: int | None = None,
        step_ms: int = 0,
        seed: int = 0,
        bad_every: int = 0,
        text: str | None = None,
    ) -> tuple[list[Chat], float, float]:
        """Inject `count` messages by random members in the chat channel: `rate` per second,
        or as fast as the sandbox can when 0; on a virtual clock message n is at `start_ms +
        n * step_ms`; with `bad_every`, every such message says "forbidden" (automod's
        benchmark word); `text`: every message says this instead (`{number}` replaced by the
        message's number). Returns the messages and the wall times of the first and the last."""
        with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as out:
            path = Path(out.name)
        try:
            reply = await self.request(
                op="chat",
                count=count,
                rate=rate,
                start_ms=start_ms,
                step_ms=step_ms,
                seed=seed,
                bad_every=bad_every,
                text=text,
                out=str(path),
            )
            text = await asyncio.to_thread(path.read_text)
        finally:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        rows = [json.loads(line) for line in text.splitlines()]
        return [Chat(*row) for row in rows], reply["started_at"], reply["finished_at"]

    async def role_requests(self) -> list[tuple[int, int, float, int]]:
        """Every `PUT .../members/{user}/roles/{role}` the bot made: user, role, arrival
        time (`time.time()`, logged by the sandbox's REST layer), status."""
        reply = await self.request(op="role_requests")
        return [(int(u), int(r), float(at), int(status)) for u, r, at, status in reply["calls"]]

    async def deletions(self) -> dict[int, float]:
        """Every message deleted so far (one by one or in bulk): id -> when the sandbox
        deleted it (`time.time()`)."""
        reply = await self.request(op="deletions")
        return {int(message): float(at) for message, at in reply["deleted"]}

    async def create_roles(self, count: int) -> list[int]:
        """`count` new roles below the bot's top role (reward roles)."""
        return [int(r) for r in (await self.request(op="roles", count=count))["ids"]]


class _SteppedClock:
    """The sandbox's clock on a virtual timeline: an hour back until a chat sets it, so ids
    made before the chat (commands registered at connect) come before every chosen time."""

    def __init__(self) -> None:
        self.now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)

    def __call__(self) -> datetime.datetime:
        return self.now


def _real_time() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def _serve_sandbox(members: int, virtual_clock: bool, unlimited_rest: bool) -> None:
    from townsquare.core.snowflakes import snowflake_ms
    from townsquare.sandbox import Sandbox, SandboxSettings
    from townsquare.sandbox.rest import RateLimitSettings
    from townsquare.sandbox.rest.ratelimits import Bucket
    from townsquare.sandbox.world.members import join_guild
    from townsquare.sandbox.world.roles import create_role

    stepped = _SteppedClock()
    settings = SandboxSettings()
    if unlimited_rest:
        limits = RateLimitSettings(
            routes={}, default=Bucket(1_000_000, 1.0), global_per_second=1_000_000
        )
        settings = SandboxSettings(rate_limits=limits)
    sandbox = Sandbox(settings=settings, clock=stepped if virtual_clock else _real_time)
    world = sandbox.world
    guild = next(iter(world.guilds.values()))
    channel = next(c for c in guild.channels.values() if c.name == "general")
    bot = world.application.bot_user_id
    chatters = [m for m in guild.members if m not in {bot, guild.owner_id}]
    for number in range(max(0, members - len(chatters))):
        chatters.append(join_guild(world, guild, world.create_user(f"bench{number}")).user_id)
    chatters = chatters[:members]

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def chat(body: dict[str, typing.Any]) -> dict[str, typing.Any]:
        rng = random.Random(body["seed"])
        count, rate, step = body["count"], body["rate"], body["step_ms"]
        rows = []
        started = time.time()
        for number in range(count):
            if virtual_clock:
                ms = body["start_ms"] + number * step
                stepped.now = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
            author = chatters[rng.randrange(len(chatters))]
            bad = body.get("bad_every") and number % body["bad_every"] == 0
            text = f"a forbidden line {number}" if bad else f"benchmark line {number}"
            if body.get("text"):
                text = body["text"].format(number=number)
            message = world.create_message(channel, author, text)
            ts = snowflake_ms(message.id)
            rows.append((message.id, author, ts, time.time()))
            if rate > 0:
                due = started + (number + 1) / rate
                if (delay := due - time.time()) > 0.001:
                    await asyncio.sleep(delay)
            elif number % 100 == 99:
                await asyncio.sleep(0)  # let the gateway writer send
        finished = time.time()
        if virtual_clock:
            stepped.now = max(stepped.now, _real_time())
        text = "".join(json.dumps(row) + "\n" for row in rows)
        await asyncio.to_thread(Path(body["out"]).write_text, text)
        return {"started_at": started, "finished_at": finished}

    def role_requests() -> dict[str, typing.Any]:
        calls = [
            (int(c.path.split("/")[6]), int(c.path.split("/")[8]), c.at, c.status)
            for c in sandbox.rest.calls
            if c.method == "PUT" and c.route.endswith("/roles/{role_id}")
        ]
        return {"calls": calls}

    deleted: list[tuple[str, float]] = []

    def on_dispatch(dispatch: typing.Any) -> None:  # the world's Dispatch
        if dispatch.name == "MESSAGE_DELETE":
            deleted.append((dispatch.data["id"], time.time()))
        elif dispatch.name == "MESSAGE_DELETE_BULK":
            now = time.time()
            deleted.extend((message, now) for message in dispatch.data["ids"])

    world.subscribe(on_dispatch)

    def roles(count: int) -> dict[str, typing.Any]:
        made = [create_role(world, guild, name=f"Reward {n + 1}") for n in range(count)]
        return {"ids": [str(role.id) for role in made]}

    async with sandbox as info:
        ready = info.as_json() | {
            "guild_id": guild.id,
            "channel_id": channel.id,
            "bot_id": bot,
            "members": chatters,
        }
        print(json.dumps(ready), flush=True)
        while line := await reader.readline():
            body = json.loads(line)
            match body["op"]:
                case "chat":
                    reply = await chat(body)
                case "role_requests":
                    reply = role_requests()
                case "roles":
                    reply = roles(body["count"])
                case "deletions":
                    reply = {"deleted": deleted}
                case other:
                    raise SystemExit(f"unknown op {other!r}")
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


@contextlib.asynccontextmanager
async def sandbox_and_database(
    server_url: str, *, members: int
) -> AsyncIterator[tuple[SandboxChild, str, Path]]:
    """A latency benchmark's world: a scratch var directory (removed after), a fresh database
    on `server_url` with the ORM connected to it, and the sandbox child with `members` members,
    no REST limits and the real clock. Yields the sandbox, the database URL and the var
    directory."""
    from townsquare.core.db import connect

    var_dir = Path(tempfile.mkdtemp(prefix="townsquare-bench-var-"))
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(shutil.rmtree, var_dir, ignore_errors=True)
        database_url = await stack.enter_async_context(fresh_database(server_url))
        await stack.enter_async_context(connect(database_url))
        sandbox = await stack.enter_async_context(
            SandboxChild.running(members=members, virtual_clock=False, unlimited_rest=True)
        )
        yield sandbox, database_url, var_dir


# ---- the shard child ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _child(*args: str, grace: float) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m benchmarks._support_processes *args`; SIGTERM when the block ends, killed
    when it has not stopped `grace` seconds later."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks._support_processes",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def shard_child(
    info: dict[str, typing.Any],
    redis_url: str,
    keyspace: Keyspace,
    *,
    batch_size: int,
    batch_ms: int,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`run_shards` over shard 0 of 1 against the sandbox, in its own process; stopped
    cleanly (SIGTERM: backlog delivered, health marked stopped) when the block ends."""
    target = {k: info[k] for k in ("rest_url", "bot_token", "application_id")}
    args = ("shard", json.dumps(target), redis_url, keyspace.namespace)
    async with _child(*args, str(batch_size), str(batch_ms), grace=20) as process:
        yield process


async def _run_shard(
    target_json: str, redis_url: str, namespace: str, batch_size: int, batch_ms: int
) -> None:
    from pydantic import SecretStr

    from townsquare.core.discord import DiscordTarget
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import load_settings
    from townsquare.shards import run_shards

    data = json.loads(target_json)
    target = DiscordTarget(
        rest_url=data["rest_url"],
        token=SecretStr(data["bot_token"]),
        application_id=int(data["application_id"]),
        is_sandbox=True,
    )
    environ = {
        "TOWNSQUARE__SHARDS__BATCH_SIZE": str(batch_size),
        "TOWNSQUARE__SHARDS__BATCH_MS": str(batch_ms),
    }
    settings = load_settings(environ=environ, env_file=None)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await run_shards(settings, redis_url, Keyspace(namespace), target, (0,), 1, shutdown=stop)


# ---- the worker child --------------------------------------------------------------------


@contextlib.asynccontextmanager
async def worker_child(
    redis_url: str,
    keyspace: Keyspace,
    database_url: str,
    pipelines: tuple[str, ...],
    environ: dict[str, str],
    profile: str | None = None,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`run_worker` for `pipelines` in its own process, with settings from `environ` (as
    `TOWNSQUARE__...` variables) and PostgreSQL connected; stopped cleanly (SIGTERM) when the
    block ends. `profile`: a path where the child writes a cProfile (CPU time) of what it does
    between SIGUSR1 and SIGUSR2."""
    args = ("worker", redis_url, keyspace.namespace, database_url, ",".join(pipelines))
    async with _child(*args, json.dumps(environ), profile or "", grace=30) as process:
        yield process


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system, every thread) a running process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command's name: state is field 3, utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _run_worker(
    redis_url: str, namespace: str, database_url: str, pipelines: str, environ: str
) -> None:
    from townsquare.core.db import connect
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import load_settings
    from townsquare.tasks.registry import load_tasks
    from townsquare.tasks.worker import run_worker

    settings = load_settings(environ=json.loads(environ), env_file=None)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with connect(database_url, pool_max=settings.database.pool_max):
        await run_worker(
            settings,
            redis_url,
            Keyspace(namespace),
            pipelines.split(","),
            shutdown=stop,
            registry=load_tasks(),
            metrics_port=0,
        )


def _worker_main(argv: list[str]) -> None:
    *args, profile = argv
    if not profile:
        asyncio.run(_run_worker(*args))
        return
    import cProfile

    # CPU time, not wall time: on a shared machine a wall-clock profile charges the waits
    # for a core to whatever call happened to be preempted (socket sends, mostly).
    profiler = cProfile.Profile(time.process_time)

    def stop() -> None:
        profiler.disable()
        profiler.dump_stats(profile)

    async def profiled() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, profiler.enable)
        loop.add_signal_handler(signal.SIGUSR2, stop)
        await _run_worker(*args)

    asyncio.run(profiled())


def _main(argv: list[str]) -> None:
    from townsquare.core.logs import configure_logging

    configure_logging(level="warning")
    match argv:
        case ["sandbox", members, virtual, unlimited]:
            asyncio.run(_serve_sandbox(int(members), virtual == "1", unlimited == "1"))
        case ["shard", target, redis_url, namespace, batch_size, batch_ms]:
            asyncio.run(_run_shard(target, redis_url, namespace, int(batch_size), int(batch_ms)))
        case ["worker", _, _, _, _, _, _]:
            _worker_main(argv[1:])
        case _:
            raise SystemExit(
                f"usage: python -m benchmarks._support_processes sandbox|shard|worker ...: {argv}"
            )


if __name__ == "__main__":
    _main(sys.argv[1:])
