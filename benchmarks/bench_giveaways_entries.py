"""Enter clicks per second into one giveaway growing to ENTRANTS entrants (issue 14's
benchmark 1): interaction in -> ephemeral response out, with everything running.

Three processes, as in production: the sandbox (a child: this module run with `sandbox`),
whose world creates each click as Discord would (INTERACTION_CREATE on the gateway) at a
steady RATE and stamps when the bot's response reached its REST layer; the shard (`run_shards`,
the real hikari `GatewayBot` with every enabled feature's commands and buttons) in another
child; Redis. The giveaway is open in Redis and its message (with the Enter button) is in the
sandbox's world. Every click is a new member's, so the entries hash grows to ENTRANTS.

Result: the rate the shard sustained (clicks answered per second over the run) and the p99
latency from the interaction's creation to its response. Baseline, same run: the bare
interaction round trip, a `hikari.GatewayBot` answering every click with a constant ephemeral
response (no command framework, no Redis), at the same rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import typing

import hikari
import redis.asyncio as aioredis

from benchmarks._support import ROOT, clear_keyspace, new_keyspace
from benchmarks._support_processes import cpu_seconds, shard_child

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

ENTRANTS = int(os.environ.get("TOWNSQUARE_BENCH_ENTRANTS", "100000"))
RATE = float(os.environ.get("TOWNSQUARE_BENCH_CLICK_RATE", "2000"))
BASELINE_CLICKS = min(ENTRANTS, 10_000)
GIVEAWAY = 1
READY_TIMEOUT = 120.0


# ---- the sandbox child -------------------------------------------------------------------


async def _serve_sandbox(members: int) -> None:
    from townsquare.sandbox import Sandbox, SandboxSettings
    from townsquare.sandbox.rest import RateLimitSettings, routes_interactions
    from townsquare.sandbox.rest.ratelimits import Bucket
    from townsquare.sandbox.world.interactions import create_component_interaction
    from townsquare.sandbox.world.members import join_guild

    limits = RateLimitSettings(
        routes={}, default=Bucket(1_000_000, 1.0), global_per_second=1_000_000
    )
    sandbox = Sandbox(settings=SandboxSettings(rate_limits=limits))
    world = sandbox.world
    guild = next(iter(world.guilds.values()))
    channel = next(c for c in guild.channels.values() if c.name == "general")
    bot = world.application.bot_user_id
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    clickers: list[int] = []

    def grow(count: int) -> None:
        for number in range(len(clickers), count):
            clickers.append(join_guild(world, guild, world.create_user(f"entrant{number}")).user_id)

    answered: dict[int, tuple[float, str]] = {}
    respond = routes_interactions._respond  # stamps each response as it lands

    def stamped(
        world_: typing.Any, interaction: typing.Any, kind: int, data: typing.Any, *rest: typing.Any
    ) -> typing.Any:
        answered[interaction.id] = (time.perf_counter(), str(data.get("content", "")))
        return respond(world_, interaction, kind, data, *rest)

    routes_interactions._respond = stamped  # type: ignore[assignment]

    async def clicks(custom_id: str, count: int, rate: float) -> dict[str, typing.Any]:
        button = {"type": 2, "style": 3, "label": "Enter", "custom_id": custom_id}
        message = world.create_message(
            channel, bot, "Giveaway!", components=[{"type": 1, "components": [button]}]
        )
        created: dict[int, float] = {}
        answered.clear()
        cpu_started = time.process_time()
        started = time.perf_counter()
        for number in range(count):
            interaction = create_component_interaction(
                world, guild, message, user_id=clickers[number], component=button
            )
            created[interaction.id] = time.perf_counter()
            if (delay := started + (number + 1) / rate - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            elif number % 50 == 49:
                await asyncio.sleep(0)  # let the gateway writer and the REST layer run
        deadline = time.perf_counter() + 30
        while len(answered) < count and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # a benchmark's bounded wait for the last answers
        last = max((at for at, _ in answered.values()), default=started)
        latencies = sorted(answered[i][0] - at for i, at in created.items() if i in answered)
        return {
            "clicks": count,
            "answered": len(latencies),
            "entered": sum(text.startswith("You're in") for _, text in answered.values()),
            "seconds": last - started,
            "latencies": latencies,
            "sandbox_cpu": time.process_time() - cpu_started,
        }

    async with sandbox as info:
        print(json.dumps(info.as_json() | {"guild_id": guild.id}), flush=True)
        while line := await reader.readline():
            body = json.loads(line)
            if body["op"] == "grow":
                grow(body["count"])
                reply: dict[str, typing.Any] = {"members": len(clickers)}
            else:
                reply = await clicks(body["custom_id"], body["count"], body["rate"])
                reply["message"] = "done"
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


@contextlib.asynccontextmanager
async def sandbox_child() -> AsyncIterator[
    tuple[asyncio.subprocess.Process, dict[str, typing.Any]]
]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.bench_giveaways_entries",
        "sandbox",
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=2**26,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), READY_TIMEOUT)
        yield process, json.loads(line)
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


async def ask(process: asyncio.subprocess.Process, **body: object) -> dict[str, typing.Any]:
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(json.dumps(body).encode() + b"\n")
    await process.stdin.drain()
    return typing.cast("dict[str, typing.Any]", json.loads(await process.stdout.readline()))


# ---- the baseline bot --------------------------------------------------------------------


@contextlib.asynccontextmanager
async def constant_bot(info: dict[str, typing.Any]) -> AsyncIterator[None]:
    """A bare hikari bot answering every click with the same ephemeral text (its REST
    connections kept alive, as the product's are)."""
    from townsquare.core.discord_rest import http_settings

    bot = hikari.GatewayBot(
        info["bot_token"],
        rest_url=info["rest_url"],
        intents=hikari.Intents.GUILDS,
        banner=None,
        http_settings=http_settings(),
    )

    @bot.listen()
    async def answer(event: hikari.InteractionCreateEvent) -> None:
        if isinstance(event.interaction, hikari.ComponentInteraction):
            await event.interaction.create_initial_response(
                hikari.ResponseType.MESSAGE_CREATE, "You're in.", flags=hikari.MessageFlag.EPHEMERAL
            )

    ready = asyncio.Event()

    async def on_ready(_: hikari.ShardReadyEvent) -> None:
        ready.set()

    bot.subscribe(hikari.ShardReadyEvent, on_ready)
    await bot.start()
    await asyncio.wait_for(ready.wait(), READY_TIMEOUT)
    try:
        yield
    finally:
        await bot.close()


async def shard_ready(redis: aioredis.Redis, keyspace: typing.Any) -> None:
    """Until the shard reports itself connected (its health hash), then a moment for the
    commands' registration."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        state = await redis.hget(keyspace.key("shard_health", 0), "state")
        if state == b"connected":
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(2)


def cpu_per_click(result: dict[str, typing.Any], side: str) -> float:
    """Milliseconds of one process's CPU per click created (answered or not)."""
    return 1000 * float(result[side]) / max(1, result["clicks"])


def summary(result: dict[str, typing.Any]) -> tuple[float, float]:
    latencies = result["latencies"]
    rate = result["answered"] / result["seconds"] if result["seconds"] > 0 else 0.0
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    return rate, p99


async def run(redis_url: str) -> None:
    from townsquare.features.giveaways.domain.entries import entry_count, open_entries
    from townsquare.features.giveaways.domain.render import ENTER, custom_id

    keyspace = new_keyspace()
    redis = aioredis.Redis.from_url(redis_url)
    try:
        async with sandbox_child() as (sandbox, info):
            await ask(sandbox, op="grow", count=max(ENTRANTS, BASELINE_CLICKS))
            async with constant_bot(info):
                base_cpu = cpu_seconds(os.getpid())  # the bare bot runs in this process
                base = await ask(
                    sandbox,
                    op="clicks",
                    custom_id="bench:constant",
                    count=BASELINE_CLICKS,
                    rate=RATE,
                )
                base["bot_cpu"] = cpu_seconds(os.getpid()) - base_cpu
            await open_entries(redis, keyspace, GIVEAWAY, info["guild_id"], {}, message_id=None)
            async with shard_child(info, redis_url, keyspace, batch_size=500, batch_ms=50) as shard:
                await shard_ready(redis, keyspace)
                shard_cpu = cpu_seconds(shard.pid)
                ours = await ask(
                    sandbox,
                    op="clicks",
                    custom_id=custom_id(ENTER, GIVEAWAY),
                    count=ENTRANTS,
                    rate=RATE,
                )
                ours["bot_cpu"] = cpu_seconds(shard.pid) - shard_cpu
            entered = await entry_count(redis, keyspace, GIVEAWAY)
    finally:
        await clear_keyspace(redis, keyspace)
        await redis.aclose()
    rate, p99 = summary(ours)
    base_rate, base_p99 = summary(base)
    print(
        f"clicks: {ours['answered']:,} answered ({ours['entered']:,} 'You're in'), "
        f"{entered:,} entries in Redis, {rate:,.0f}/s (asked {RATE:,.0f}/s)"
    )
    print(f"p99 interaction -> response: {p99 * 1000:,.0f} ms")
    print(
        f"bare round trip: {base['answered']:,} of {base['clicks']:,} answered, "
        f"{base_rate:,.0f}/s, p99 {base_p99 * 1000:,.0f} ms"
    )
    # One guild is on one shard, and one shard is one single-threaded process: the bot's CPU per
    # click bounds the clicks/s one guild can get, whatever the number of cores.
    for name, result in (("ours", ours), ("bare", base)):
        bot_ms, world_ms = cpu_per_click(result, "bot_cpu"), cpu_per_click(result, "sandbox_cpu")
        print(
            f"CPU per click ({name}): bot process {bot_ms:.2f} ms (one process's ceiling "
            f"{1000 / bot_ms if bot_ms else 0:,.0f}/s), sandbox {world_ms:.2f} ms"
        )
    print(
        json.dumps(
            {
                "benchmark": "giveaways_entries",
                "value": round(rate),
                "unit": "clicks/s",
                "baseline": round(base_rate),
                "ratio": round(rate / base_rate, 2) if base_rate else None,
                "p99_ms": round(p99 * 1000),
                "baseline_p99_ms": round(base_p99 * 1000),
                "entrants": entered,
                "bot_cpu_ms_per_click": round(cpu_per_click(ours, "bot_cpu"), 3),
                "baseline_bot_cpu_ms_per_click": round(cpu_per_click(base, "bot_cpu"), 3),
                "sandbox_cpu_ms_per_click": round(cpu_per_click(ours, "sandbox_cpu"), 3),
            }
        )
    )


def main() -> None:
    if sys.argv[1:] == ["sandbox"]:
        asyncio.run(_serve_sandbox(ENTRANTS))
        return
    redis_url = os.environ.get("TOWNSQUARE_BENCH_REDIS_URL") or os.environ.get(
        "TOWNSQUARE_TEST_REDIS_URL"
    )
    if not redis_url:
        raise SystemExit("set TOWNSQUARE_BENCH_REDIS_URL (or TOWNSQUARE_TEST_REDIS_URL)")
    asyncio.run(run(redis_url))


if __name__ == "__main__":
    main()
