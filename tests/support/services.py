"""The product's services on loopback ports, for tests that talk to them over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import typing

from aiohttp import web

from tests.support.sandbox import WAIT
from townsquare.core.processes import free_port

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from quart import Quart

__all__ = ["serving", "serving_aiohttp", "wait_port"]


async def wait_port(port: int) -> None:
    """Until something accepts connections on the loopback `port`."""
    async with asyncio.timeout(WAIT):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            await writer.wait_closed()
            return


@contextlib.asynccontextmanager
async def serving(app: Quart, port: int | None = None) -> AsyncIterator[str]:
    """`app` served by hypercorn on a free loopback port (or `port`) in this task's context
    (so requests see the caller's ORM connections); yields its base URL."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    port = port or free_port()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.graceful_timeout = 1.0
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
    try:
        await wait_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        async with asyncio.timeout(WAIT):
            await task


@contextlib.asynccontextmanager
async def serving_aiohttp(app: web.Application) -> AsyncIterator[str]:
    """An aiohttp `app` (a stand-in for a service) on a free loopback port; its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
