"""MESSAGE_CREATE events per second from the sandbox to one real hikari shard's listener.

Two processes, as in production: the sandbox serves in a child process; this process runs a
`hikari.GatewayBot` (one shard) whose `GuildMessageCreateEvent` listener counts events. The
control API's bulk injection posts EVENTS messages; the rate is EVENTS over the time from the
request to the last event heard. The result is measured with hikari's cache minus its message
cache (what a busy bot that reacts to messages runs: caching every message costs hikari about
a third of its time); the rate with the full default cache is printed too.

Baseline, measured in the same run on the same machine: the same number of MESSAGE_CREATE
frames (the same payload) pushed by a bare aiohttp websocket server in a child process through
a zlib-stream, received by a bare aiohttp client that inflates and parses each one — the
transport and decoding floor, without the sandbox's world nor hikari's event machinery.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import typing
import zlib

import aiohttp
import hikari
from aiohttp import web

from townsquare.sandbox import Sandbox

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

EVENTS = 30_000
"""Events per measured burst; the result is the best of ROUNDS bursts (the machine is shared)."""
ROUNDS = 3
WARMUP = 2_000
TARGET = 20_000
TIMEOUT = 45.0


# ---- child processes ---------------------------------------------------------------------


async def serve_sandbox() -> None:
    async with Sandbox(port=0) as info:
        print(json.dumps(info.as_json()), flush=True)
        await asyncio.Event().wait()


def sample_payload() -> bytes:
    """One MESSAGE_CREATE dispatch exactly as the sandbox builds it."""
    sandbox = Sandbox()
    guild = next(iter(sandbox.world.guilds.values()))
    channel = next(c for c in guild.channels.values() if c.name == "general")
    author = next(u for u in guild.members if u != sandbox.world.application.bot_user_id)
    captured: list[dict[str, typing.Any]] = []
    sandbox.world.subscribe(lambda d: captured.append(d.data))
    sandbox.world.create_message(channel, author, "benchmark message")
    dispatch = {"op": 0, "t": "MESSAGE_CREATE", "s": 1, "d": captured[0]}
    return json.dumps(dispatch, separators=(",", ":")).encode()


async def serve_baseline() -> None:
    payload = sample_payload()

    async def push(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        count = int(request.query["count"])
        compressor = zlib.compressobj()
        for _ in range(count):
            frame = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
            await ws.send_bytes(frame)
        await ws.close()
        return ws

    app = web.Application()
    app.add_routes([web.get("/push", push)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(json.dumps({"url": f"ws://127.0.0.1:{runner.addresses[0][1]}/push"}), flush=True)
    await asyncio.Event().wait()


# ---- measurements --------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to cost each side per event."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def child(mode: str) -> AsyncIterator[dict[str, str]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.bench_sandbox", mode, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        yield json.loads(line) | {"pid": str(process.pid)}
    finally:
        process.terminate()
        await process.wait()


async def measure_baseline(count: int) -> float:
    async with child("--serve-baseline") as served, aiohttp.ClientSession() as http:
        received = 0
        started = time.perf_counter()
        async with http.ws_connect(served["url"], params={"count": str(count)}) as ws:
            inflator = zlib.decompressobj()
            async for message in ws:
                if message.type is aiohttp.WSMsgType.BINARY:
                    json.loads(inflator.decompress(message.data))
                    received += 1
        elapsed = time.perf_counter() - started
    assert received == count, f"baseline received {received} of {count}"
    return count / elapsed


async def measure_sandbox(count: int, *, message_cache: bool, rounds: int) -> float:
    components = hikari.api.CacheComponents.ALL
    if not message_cache:
        components &= ~hikari.api.CacheComponents.MESSAGES
    async with child("--serve-sandbox") as info, aiohttp.ClientSession() as http:
        bot = hikari.GatewayBot(
            info["bot_token"],
            rest_url=info["rest_url"],
            cache_settings=hikari.impl.CacheSettings(components=components),
            intents=hikari.Intents.GUILDS
            | hikari.Intents.GUILD_MESSAGES
            | hikari.Intents.MESSAGE_CONTENT,
            banner=None,
            logs=None,
            suppress_optimization_warning=True,
        )
        heard = 0
        target = 0
        reached = asyncio.Event()

        async def on_message(_: hikari.GuildMessageCreateEvent) -> None:
            nonlocal heard
            heard += 1
            if heard >= target:
                reached.set()

        bot.subscribe(hikari.GuildMessageCreateEvent, on_message)
        available = asyncio.Event()

        async def on_guild(_: hikari.GuildAvailableEvent) -> None:
            available.set()

        bot.subscribe(hikari.GuildAvailableEvent, on_guild)
        await bot.start(check_for_updates=False)
        try:
            await asyncio.wait_for(available.wait(), TIMEOUT)
            guild = next(iter(bot.cache.get_guilds_view().values()))
            channel = next(c for c in guild.get_channels().values() if c.name == "general")
            author = next(m for m in guild.get_members() if m != bot.get_me().id)  # type: ignore[union-attr]

            async def burst(size: int) -> float:
                nonlocal target
                reached.clear()
                target = heard + size
                body = {
                    "channel_id": str(channel.id),
                    "author_id": str(author),
                    "content": "benchmark message",
                    "count": size,
                }
                pid = int(info["pid"])
                started, cpu, served = time.perf_counter(), time.process_time(), cpu_seconds(pid)
                async with http.post(f"{info['control_url']}/messages/bulk", json=body) as reply:
                    assert reply.status == 200, await reply.text()
                await asyncio.wait_for(reached.wait(), TIMEOUT)
                elapsed = time.perf_counter() - started
                hikari_us = (time.process_time() - cpu) / size * 1e6
                sandbox_us = (cpu_seconds(pid) - served) / size * 1e6
                print(
                    f"  {size:,} events in {elapsed:.2f}s; CPU per event: sandbox "
                    f"{sandbox_us:.1f} us, hikari {hikari_us:.1f} us"
                )
                return size / elapsed

            await burst(WARMUP)
            return max([await burst(count) for _ in range(rounds)])
        finally:
            await bot.close()


async def main() -> None:
    baseline = max([await measure_baseline(EVENTS) for _ in range(ROUNDS)])
    print(f"baseline (bare aiohttp websocket, zlib-stream, parse): {baseline:,.0f} frames/s")
    cached = await measure_sandbox(EVENTS, message_cache=True, rounds=1)
    print(f"sandbox -> hikari listener, hikari's default cache: {cached:,.0f} events/s")
    value = await measure_sandbox(EVENTS, message_cache=False, rounds=ROUNDS)
    verdict = "meets" if value >= TARGET else "MISSES"
    print(f"sandbox -> hikari listener, no message cache (the result): {value:,.0f} events/s")
    print(f"{verdict} the target of {TARGET:,} events/s (best of {ROUNDS} x {EVENTS:,} events)")
    print(
        json.dumps(
            {
                "benchmark": "sandbox_message_create",
                "value": round(value),
                "unit": "events/s",
                "baseline": round(baseline),
                "ratio": round(value / baseline, 3),
            }
        )
    )


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "--serve-sandbox":
        asyncio.run(serve_sandbox())
    elif mode == "--serve-baseline":
        asyncio.run(serve_baseline())
    else:
        asyncio.run(main())
