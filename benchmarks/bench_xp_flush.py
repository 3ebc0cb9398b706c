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
import json
import time
import uuid

import redis.asyncio as aioredis
from tortoise import Tortoise

from benchmarks._support import clear_keyspace, fresh_database, servers
from townsquare.core.db import connect
from townsquare.core.keyspace import Keyspace
from townsquare.core.settings import load_settings
from townsquare.features.xp.domain.admin import adjust_totals
from townsquare.features.xp.domain.config import XPSection
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
    curve = curve_for(settings.guild_defaults.section(XPSection))
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
        await clear_keyspace(redis, keyspace)
        await redis.aclose()
    return ours, baseline


async def run(redis_url: str, server_url: str) -> tuple[float, float]:
    async with fresh_database(server_url) as url:
        return await measure(redis_url, url)


def main() -> None:
    with servers() as (redis_url, database_url):
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
