"""XP rows per second flushed from Redis to PostgreSQL, against one upsert per row.

ROWS members of one guild are made dirty in Redis (`adjust_totals`), then `flush_guild`
writes them: a snapshot Lua call, one `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO
UPDATE` and one clearing Lua call per chunk of 1,000. Baseline, same run and database: the same
upsert issued once per row (what a naive flush does). Needs Redis and PostgreSQL:
`TOWNSQUARE_BENCH_REDIS_URL` / `TOWNSQUARE_BENCH_DATABASE_URL` (or the `TEST` variables);
otherwise embedded servers in a temporary directory. A fresh database is created and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis
from tortoise import Tortoise

from townsquare.core.db import connect, migrate
from townsquare.core.keyspace import Keyspace
from townsquare.core.settings import load_settings
from townsquare.features.xp.domain.admin import adjust_totals
from townsquare.features.xp.domain.curve import curve_for
from townsquare.features.xp.domain.flush import flush_guild

ROWS = 20_000
BASELINE_ROWS = 2_000
GUILD = 81_384_788_765_712_384

_ONE_ROW = """
INSERT INTO member_xp (guild_id, user_id, xp, level, message_count, voice_minutes, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, now())
ON CONFLICT (guild_id, user_id) DO UPDATE SET xp = EXCLUDED.xp, level = EXCLUDED.level,
    message_count = EXCLUDED.message_count, voice_minutes = EXCLUDED.voice_minutes,
    updated_at = EXCLUDED.updated_at
"""


async def measure(redis_url: str, database_url: str) -> tuple[float, float]:
    settings = load_settings(environ={}, env_file=None)
    curve = curve_for(settings.guild_defaults.xp)
    keyspace = Keyspace(f"b{uuid.uuid4().hex[:12]}")
    redis = aioredis.Redis.from_url(redis_url)
    try:
        async with connect(database_url):
            for start in range(0, ROWS, 1000):
                changes = [(10_000 + n, 37 * n, n, None) for n in range(start, start + 1000)]
                await adjust_totals(
                    redis, keyspace, GUILD, changes, mode="set", curve=curve, notify=False
                )
            started = time.perf_counter()
            written = await flush_guild(redis, keyspace, GUILD, curve)
            ours = written / (time.perf_counter() - started)
            assert written == ROWS
            connection = Tortoise.get_connection("default")
            rows = [(GUILD, 10_000 + n, 41 * n, 1, n, 0) for n in range(BASELINE_ROWS)]
            started = time.perf_counter()
            for row in rows:
                await connection.execute_query(_ONE_ROW, list(row))
            baseline = BASELINE_ROWS / (time.perf_counter() - started)
    finally:
        async for key in redis.scan_iter(match=f"{keyspace.namespace}:*", count=1000):
            await redis.delete(key)
        await redis.aclose()
    return ours, baseline


async def run(redis_url: str, server_url: str) -> tuple[float, float]:
    name = f"townsquare_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    head, _, tail = server_url.partition("?")
    url = head.rsplit("/", 1)[0] + f"/{name}" + (f"?{tail}" if tail else "")
    try:
        await migrate(url)
        return await measure(redis_url, url)
    finally:
        admin = await asyncpg.connect(server_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    env = os.environ.get
    with contextlib.ExitStack() as stack:
        redis_url = env("TOWNSQUARE_BENCH_REDIS_URL") or env("TOWNSQUARE_TEST_REDIS_URL")
        database_url = env("TOWNSQUARE_BENCH_DATABASE_URL") or env("TOWNSQUARE_TEST_DATABASE_URL")
        if not redis_url or not database_url:
            from townsquare.core.embedded import start_or_attach_postgres, start_or_attach_valkey

            root = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            root.chmod(0o755)
            if not redis_url:
                valkey = start_or_attach_valkey(root / "valkey")
                stack.callback(valkey.stop)
                redis_url = valkey.url
            if not database_url:
                postgres = start_or_attach_postgres(root / "postgres")
                stack.callback(postgres.stop)
                database_url = postgres.url
        ours, baseline = asyncio.run(run(redis_url, database_url))
    print(f"flush: {ours:,.0f} rows/s; one upsert per row: {baseline:,.0f} rows/s")
    print(
        json.dumps(
            {
                "benchmark": "xp_flush_rows",
                "value": round(ours),
                "unit": "rows/s",
                "baseline": round(baseline),
                "ratio": round(ours / baseline, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
