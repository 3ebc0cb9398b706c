"""Premium gate checks per second in one process, against a bare dict lookup in the same run.

`Gate.may` is on the paths that add things (a reward, a key, a feed) and on every public-API
request (the key's rate and whether the key is paused), so it must cost close to nothing. Three
measurements, interleaved round by round to share conditions:

- `gate (cached)`: 1,000 guilds (a tenth on paid tiers) checked in turn while their tiers are
  in the process's cache (`premium.gate_cache_seconds`): the steady state;
- `gate (Redis)`: the same with the cache off, so every check is one HGET on Redis;
- `dict`: the baseline, a bare `tiers.get(guild_id)` and a comparison.
"""

from __future__ import annotations

import asyncio
import json
import time

import redis.asyncio as aioredis

from benchmarks._support import clear_keyspace, new_keyspace, servers
from townsquare.core.premium import Gate, PremiumCatalogue, store_guild_tier
from townsquare.core.settings import load_settings

ROUNDS = 5
CHECKS = 50_000
"""Checks per round of the in-process measurements."""
REDIS_CHECKS = 5_000
GUILDS = 1_000


async def _rate(gate: Gate, guilds: list[int], checks: int) -> float:
    started = time.perf_counter()
    for n in range(checks):
        await gate.may(guilds[n % len(guilds)], "xp.level_rewards", usage=n % 60)
    return checks / (time.perf_counter() - started)


def _dict_rate(tiers: dict[int, str], guilds: list[int], checks: int) -> float:
    limits = {"free": 10, "plus": 50, "pro": 100}
    started = time.perf_counter()
    allowed = 0
    for n in range(checks):
        allowed += (n % 60) + 1 <= limits[tiers.get(guilds[n % len(guilds)], "free")]
    elapsed = time.perf_counter() - started
    assert allowed > 0
    return checks / elapsed


async def main() -> None:
    premium = load_settings(environ={}, env_file=None).premium
    cached_catalogue = PremiumCatalogue(premium.model_copy(update={"gate_cache_seconds": 3600}))
    uncached_catalogue = PremiumCatalogue(premium.model_copy(update={"gate_cache_seconds": 0}))
    guilds = [10**17 + n for n in range(GUILDS)]
    tiers = {guild: ("plus" if n % 20 else "pro") for n, guild in enumerate(guilds) if n % 10 == 0}
    with servers() as (redis_url, _):
        redis = aioredis.Redis.from_url(redis_url)
        keyspace = new_keyspace()
        try:
            for guild, tier in tiers.items():
                await store_guild_tier(redis, keyspace, guild, tier, free="free")
            cached = Gate(redis, keyspace, cached_catalogue)
            uncached = Gate(redis, keyspace, uncached_catalogue)
            await _rate(cached, guilds, GUILDS)  # warm the cache
            ours, over_redis, baseline = [], [], []
            for _ in range(ROUNDS):
                ours.append(await _rate(cached, guilds, CHECKS))
                over_redis.append(await _rate(uncached, guilds, REDIS_CHECKS))
                baseline.append(_dict_rate(tiers, guilds, CHECKS))
        finally:
            await clear_keyspace(redis, keyspace)
            await redis.aclose()
    best, best_redis, best_dict = max(ours), max(over_redis), max(baseline)
    print(
        f"gate (cached): {best:,.0f} checks/s, gate (Redis): {best_redis:,.0f} checks/s, "
        f"dict: {best_dict:,.0f} lookups/s"
    )
    print(
        json.dumps(
            {
                "benchmark": "premium_gate_checks",
                "value": round(best),
                "unit": "checks/s",
                "baseline": round(best_dict),
                "ratio": round(best / best_dict, 4),
                "redis_checks_per_second": round(best_redis),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
