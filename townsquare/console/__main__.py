"""`python -m townsquare.console --redis-url ... --database-url ... --namespace ...`.

The console without the rest of the CLI: no settings file is read, so it starts anywhere the
URLs reach (the tmux test uses it). `townsquare console` is the usual entry.
"""

from __future__ import annotations

import argparse
import asyncio

from townsquare.console.app import ConsoleApp
from townsquare.core.keyspace import Keyspace


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m townsquare.console", description=__doc__)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--namespace", default="ts", help="the Redis key namespace (default ts)")
    parser.add_argument("--refresh-seconds", type=float, default=1.0)
    options = parser.parse_args(argv)
    app = ConsoleApp(
        options.redis_url,
        options.database_url,
        Keyspace(options.namespace),
        options.refresh_seconds,
    )
    asyncio.run(app.run_async())


if __name__ == "__main__":
    main()
