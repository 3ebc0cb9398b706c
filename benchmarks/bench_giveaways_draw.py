"""The end of a giveaway with 100,000 weighted entries: under 1 s (issue 14's benchmark 2).

The product's own draw path, as the `giveaways.end` job runs it: `end_giveaway` with the
worker's `member_check` (`tasks/discord_io.py`). A giveaway requiring the Regular role and
level 2 has ENTRIES entries in PostgreSQL (weights 1 to 4) from ENTRIES members of the
sandbox's guild (every tenth without the role, so about one candidate in ten is skipped);
their levels are in the XP store's Redis hash. Ending it closes and flushes the entries, reads
them, builds the Fenwick tree, draws WINNERS winners and re-checks every candidate as
production does, then commits the picks. The re-check:

- through the gateway (the measured value): a real shard (`ShardCluster`, hikari, with
  `discord.server_members_intent`) runs in this process against the sandbox and answers the worker's
  request through Redis with op 8 (`core/member_requests.py`): one request per 100
  candidates; the role names once through REST (`fetch_roles`), the levels from Redis;
- through REST (the shard stopped: the fallback): one `GET /guilds/{id}/members/{user}` per
  candidate through hikari's `fetch_member` against the sandbox, which enforces Discord's rate
  limits (50 requests/s per bot).

The sandbox serves in this process (its CPU counts); Discord's REST round trip is modelled by
a sandbox fault delaying every member fetch LATENCY_MS; the gateway's answer is not delayed
(the sandbox answers op 8 at once).

Baseline, same run and database: reading the entries alone (the sorted SELECT the draw
starts from). Also printed: the REST end with Discord's rate limits and latency taken out of
the sandbox (what the draw and the re-check cost us).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import time
import typing

import redis.asyncio as aioredis
from pydantic import SecretStr
from tortoise import Tortoise

from benchmarks._support import clear_keyspace, fresh_database, new_keyspace, servers
from townsquare.core.db import connect
from townsquare.core.discord import DiscordTarget
from townsquare.core.member_levels import LEVELS_FAMILY
from townsquare.core.settings import load_settings
from townsquare.features.giveaways.domain.config import GiveawaysSection
from townsquare.features.giveaways.domain.lifecycle import end_giveaway, frozen_entries
from townsquare.features.giveaways.domain.models import Giveaway, GiveawayPick, GiveawayState
from townsquare.features.giveaways.domain.requirements import Requirements
from townsquare.features.giveaways.domain.service import GiveawaySpec, create_giveaway
from townsquare.features.giveaways.tasks.discord_io import member_check
from townsquare.sandbox import Sandbox
from townsquare.sandbox.rest import RateLimitSettings
from townsquare.sandbox.rest.ratelimits import Bucket, RateLimiter
from townsquare.sandbox.world.members import join_guild
from townsquare.sandbox.world.roles import create_role
from townsquare.shards.cluster import ShardCluster, ShardSet
from townsquare.tasks.resources import TaskResources

if typing.TYPE_CHECKING:
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.sandbox.world.models import Guild

ENTRIES = int(os.environ.get("TOWNSQUARE_BENCH_ENTRIES", "100000"))
WINNERS = int(os.environ.get("TOWNSQUARE_BENCH_WINNERS", "100"))
LATENCY_MS = int(os.environ.get("TOWNSQUARE_BENCH_DISCORD_LATENCY_MS", "40"))
_MEMBER_ROUTE = "/api/v10/guilds/{guild_id}/members/{user_id}"
_INSERT = """
INSERT INTO giveaway_entries (giveaway_id, user_id, weight, active, entered_at, updated_at)
SELECT $1, t.user_id, t.weight, true, now(), now()
FROM unnest($2::bigint[], $3::int[]) AS t(user_id, weight)
"""
_UNLIMITED = RateLimitSettings(
    routes={}, default=Bucket(1_000_000, 1.0), global_per_second=1_000_000
)


class Result(typing.NamedTuple):
    seconds: float
    member_fetches: int
    limited: int
    """429 answers hikari waited out."""
    winners: int
    skipped: int


def populate(sandbox: Sandbox) -> tuple[Guild, int, list[int]]:
    """ENTRIES members of the demo guild, nine in ten with the Regular role: (guild, role id,
    the members' ids)."""
    world = sandbox.world
    guild = next(iter(world.guilds.values()))
    regular = create_role(world, guild, name="Regular").id
    users = []
    for number in range(ENTRIES):
        member = join_guild(world, guild, world.create_user(f"entrant{number}"))
        if number % 10:
            member.role_ids.append(regular)
        users.append(member.user_id)
    return guild, regular, users


async def new_giveaway(
    settings: Settings, guild_id: int, regular: int, users: list[int], now: datetime.datetime
) -> int:
    spec = GiveawaySpec(
        prize="Benchmark",
        duration_seconds=60,
        winners=WINNERS,
        channel_id=1,
        host_id=1,
        requirements=Requirements(required_role_ids=[regular], min_level=2),
    )
    defaults = settings.guild_defaults.section(GiveawaysSection)
    giveaway = await create_giveaway(guild_id, spec, defaults, now)
    await Giveaway.filter(id=giveaway.id).update(state=GiveawayState.RUNNING)
    connection = Tortoise.get_connection("default")
    for start in range(0, ENTRIES, 10_000):
        part = users[start : start + 10_000]
        await connection.execute_query(_INSERT, [giveaway.id, part, [1 + u % 4 for u in part]])
    return int(giveaway.id)


async def end_through_rest(
    sandbox: Sandbox, resources: TaskResources, giveaway_id: int, now: datetime.datetime
) -> Result:
    """`end_giveaway` with the worker's re-check, timed (its REST client already up, as in a
    running worker); what it asked Discord."""
    rest = await resources.discord_rest()
    calls_before = len(sandbox.rest.calls)
    started = time.perf_counter()
    giveaway = await Giveaway.get(id=giveaway_id)
    check = member_check(resources, rest, giveaway, now)
    ended = await end_giveaway(
        resources.redis, resources.keyspace, giveaway_id, check, now, force=True
    )
    seconds = time.perf_counter() - started
    await resources.rest.close()  # the next run starts with a client knowing no buckets
    assert ended is not None
    assert ended.state is GiveawayState.CLAIMING
    calls = [c for c in sandbox.rest.calls[calls_before:] if c.route == _MEMBER_ROUTE]
    picks = await GiveawayPick.filter(giveaway_id=giveaway_id)
    return Result(
        seconds,
        sum(1 for c in calls if c.status == 200),
        sum(1 for c in calls if c.status == 429),
        sum(1 for p in picks if p.slot is not None),
        sum(1 for p in picks if p.slot is None),
    )


async def measure(redis_url: str, database_url: str) -> tuple[Result, Result, Result, float]:
    settings = load_settings(
        environ={"TOWNSQUARE__DISCORD__SERVER_MEMBERS_INTENT": "true"}, env_file=None
    )
    keyspace = new_keyspace()
    redis = aioredis.Redis.from_url(redis_url)
    now = datetime.datetime.now(datetime.UTC)
    sandbox = Sandbox()
    guild, regular, users = populate(sandbox)
    try:
        async with connect(database_url), sandbox as info:
            await _levels(redis, keyspace, guild.id, users)
            target = DiscordTarget(
                rest_url=info.rest_url,
                token=SecretStr(info.bot_token),
                application_id=info.application_id,
                is_sandbox=True,
            )
            resources = TaskResources(
                settings=settings, keyspace=keyspace, redis=redis, discord=target
            )
            try:
                gateway_id = await new_giveaway(settings, guild.id, regular, users, now)
                limited_id = await new_giveaway(settings, guild.id, regular, users, now)
                free_id = await new_giveaway(settings, guild.id, regular, users, now)
                latency = sandbox.faults.add(
                    {"method": "GET", "route": _MEMBER_ROUTE, "delay_ms": LATENCY_MS}
                )
                shards = ShardCluster(
                    settings, redis_url, keyspace, ShardSet(target, (0,), 1), commands=False
                )
                await shards.start()
                try:
                    await _answering(redis, keyspace)
                    gateway = await end_through_rest(sandbox, resources, gateway_id, now)
                finally:
                    await shards.close()
                limited = await end_through_rest(sandbox, resources, limited_id, now)
                sandbox.faults.rules.remove(latency)
                sandbox.rest._limiter = RateLimiter(_UNLIMITED)  # a benchmark's knob
                free = await end_through_rest(sandbox, resources, free_id, now)
            finally:
                await resources.rest.close()
            started = time.perf_counter()
            assert len(await frozen_entries(limited_id)) == ENTRIES
            read_seconds = time.perf_counter() - started
    finally:
        await clear_keyspace(redis, keyspace)
        await redis.aclose()
    return gateway, limited, free, read_seconds


async def _answering(redis: aioredis.Redis, keyspace: Keyspace) -> None:
    """Until the shard has marked itself ready for member requests and written its health."""
    for _ in range(300):
        ready = await redis.exists(keyspace.key("member_requests_ready", 0))
        if ready and await redis.hget(keyspace.key("shard_health", 0), "shard_count"):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the shard never became ready for member requests")


async def _levels(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, users: list[int]
) -> None:
    """Every member at level 5 in the XP store's hash (the level the re-check reads)."""
    key = keyspace.key(LEVELS_FAMILY, guild_id)
    for start in range(0, len(users), 10_000):
        await redis.hset(key, mapping={str(u): 5 for u in users[start : start + 10_000]})


async def run(redis_url: str, server_url: str) -> tuple[Result, Result, Result, float]:
    async with fresh_database(server_url) as url:
        return await measure(redis_url, url)


def main() -> None:
    with servers() as (redis_url, server_url):
        gateway, limited, free, read = asyncio.run(run(redis_url, server_url))
    print(
        f"end with the draw of {ENTRIES:,} entries, re-checked through the gateway (op 8 "
        f"through the shard): {gateway.seconds * 1000:,.0f} ms ({gateway.winners} winners, "
        f"{gateway.skipped} skipped, {gateway.member_fetches} REST member fetches)"
    )
    print(
        f"the same re-checked through Discord REST (no shard; {LATENCY_MS} ms a call, "
        f"Discord's rate limits): {limited.seconds * 1000:,.0f} ms ({limited.winners} winners, "
        f"{limited.skipped} skipped, {limited.member_fetches} member fetches, "
        f"{limited.limited} answered 429)"
    )
    print(
        f"REST without Discord's latency and rate limits: {free.seconds * 1000:,.0f} ms "
        f"({free.member_fetches} member fetches)"
    )
    print(f"baseline, reading the entries alone: {read * 1000:,.0f} ms")
    print(
        json.dumps(
            {
                "benchmark": "giveaways_draw_100k",
                "value": round(gateway.seconds * 1000),
                "unit": "ms",
                "baseline": round(read * 1000),
                "ratio": round(gateway.seconds / read, 2),
                "rest_ms": round(limited.seconds * 1000),
                "unlimited_ms": round(free.seconds * 1000),
                "winners": WINNERS,
                "discord_latency_ms": LATENCY_MS,
                "gateway_rest_fetches": gateway.member_fetches,
                "member_fetches": limited.member_fetches,
                "rate_limited": limited.limited,
            }
        )
    )


if __name__ == "__main__":
    main()
