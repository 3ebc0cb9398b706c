"""`python -m tests.support.serve_http REDIS_URL DATABASE_URL`: the HTTP service as `townsquare
http` runs it (`run_http`, hypercorn), with settings from the environment, until SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys

from townsquare.core.keyspace import Keyspace
from townsquare.core.settings import load_settings
from townsquare.http import run_http


async def main(redis_url: str, database_url: str) -> None:
    settings = load_settings(env_file=None)
    shutdown = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, shutdown.set)
    keyspace = Keyspace(settings.redis.namespace)
    await run_http(settings, redis_url, database_url, keyspace, shutdown=shutdown)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
