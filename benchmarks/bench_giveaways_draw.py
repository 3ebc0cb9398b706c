"""The end of a giveaway with 100,000 weighted entries: under 1 s (issue 14's benchmark 2).

A giveaway with ENTRIES entries in PostgreSQL (weights 1 to 4; every tenth member no longer
meets the requirements) is ended with `end_giveaway`: close and flush, read the entries,
draw WINNERS winners with the Fenwick-tree draw, re-check each candidate against the
requirements (the member facts come from memory here; in production each is a Discord REST
call), and commit the picks. Baseline, same run and database: reading the entries alone (the
sorted SELECT the draw starts from).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import time

import redis.asyncio as aioredis
from tortoise import Tortoise

from benchmarks._support import clear_keyspace, fresh_database, new_keyspace, servers
from townsquare.core.db import connect
from townsquare.core.settings import load_settings
from townsquare.features.giveaways.domain.lifecycle import end_giveaway, frozen_entries
from townsquare.features.giveaways.domain.models import Giveaway, GiveawayState
from townsquare.features.giveaways.domain.requirements import MemberFacts, Requirements
from townsquare.features.giveaways.domain.service import GiveawaySpec, create_giveaway

ENTRIES = 100_000
WINNERS = 100
GUILD = 81_384_788_765_712_384
REGULAR = 555
_INSERT = """
INSERT INTO giveaway_entries (giveaway_id, user_id, weight, active, entered_at, updated_at)
SELECT $1, t.user_id, t.weight, true, now(), now()
FROM unnest($2::bigint[], $3::int[]) AS t(user_id, weight)
"""


async def measure(redis_url: str, database_url: str) -> tuple[float, float]:
    settings = load_settings(environ={}, env_file=None)
    keyspace = new_keyspace()
    redis = aioredis.Redis.from_url(redis_url)
    now = datetime.datetime.now(datetime.UTC)
    requirements = Requirements(required_role_ids=[REGULAR], min_level=2)
    try:
        async with connect(database_url):
            spec = GiveawaySpec(
                prize="Benchmark",
                duration_seconds=60,
                winners=WINNERS,
                channel_id=1,
                host_id=1,
                requirements=requirements,
            )
            giveaway = await create_giveaway(GUILD, spec, settings.guild_defaults.giveaways, now)
            await Giveaway.filter(id=giveaway.id).update(state=GiveawayState.RUNNING)
            users = [10**15 + n for n in range(ENTRIES)]
            connection = Tortoise.get_connection("default")
            for start in range(0, ENTRIES, 10_000):
                part = users[start : start + 10_000]
                await connection.execute_query(
                    _INSERT, [giveaway.id, part, [1 + user % 4 for user in part]]
                )

            async def check(user_id: int) -> str | None:
                roles = frozenset() if user_id % 10 == 0 else frozenset({REGULAR})
                facts = MemberFacts(user_id, roles, now, 5)
                return "; ".join(requirements.refusals(facts, now, str)) or None

            started = time.perf_counter()
            ended = await end_giveaway(redis, keyspace, giveaway.id, check, now, force=True)
            draw_seconds = time.perf_counter() - started
            assert ended is not None
            assert ended.state is GiveawayState.CLAIMING
            started = time.perf_counter()
            assert len(await frozen_entries(giveaway.id)) == ENTRIES
            read_seconds = time.perf_counter() - started
    finally:
        await clear_keyspace(redis, keyspace)
        await redis.aclose()
    return draw_seconds, read_seconds


async def run(redis_url: str, server_url: str) -> tuple[float, float]:
    async with fresh_database(server_url) as url:
        return await measure(redis_url, url)


def main() -> None:
    with servers() as (redis_url, server_url):
        draw, read = asyncio.run(run(redis_url, server_url))
    print(f"end with the draw of {ENTRIES:,} entries: {draw * 1000:,.0f} ms")
    print(f"reading the entries alone: {read * 1000:,.0f} ms")
    print(
        json.dumps(
            {
                "benchmark": "giveaways_draw_100k",
                "value": round(draw * 1000),
                "unit": "ms",
                "baseline": round(read * 1000),
                "ratio": round(draw / read, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
