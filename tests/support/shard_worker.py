"""One bot process of a sharded deployment, for `tests/sandbox/test_sandbox_sharding.py`.

`python tests/support/shard_worker.py REST_URL TOKEN SHARD_COUNT SHARD_ID...` starts a real
`hikari.GatewayBot` with those shard ids, waits until every guild its shards' READY listed has
arrived as GUILD_CREATE (at most 30 s), prints one JSON line `{"ready": {shard: [guild ids]},
"guild_creates": [[shard, guild id], ...]}` and exits.
"""

from __future__ import annotations

import asyncio
import json
import sys

import hikari

_TIMEOUT = 30.0


async def main(rest_url: str, token: str, shard_count: int, shard_ids: list[int]) -> None:
    bot = hikari.GatewayBot(
        token,
        rest_url=rest_url,
        intents=hikari.Intents.GUILDS,
        banner=None,
        logs=None,
        suppress_optimization_warning=True,
    )
    ready: dict[int, list[int]] = {}
    guild_creates: list[tuple[int, int]] = []
    complete = asyncio.Event()

    def check() -> None:
        arrived = {guild for _, guild in guild_creates}
        if len(ready) == len(shard_ids) and all(set(g) <= arrived for g in ready.values()):
            complete.set()

    async def on_ready(event: hikari.ShardReadyEvent) -> None:
        ready[event.shard.id] = sorted(event.unavailable_guilds)
        check()

    async def on_guild(event: hikari.GuildAvailableEvent) -> None:
        guild_creates.append((event.shard.id, event.guild_id))
        check()

    bot.subscribe(hikari.ShardReadyEvent, on_ready)
    bot.subscribe(hikari.GuildAvailableEvent, on_guild)
    await bot.start(shard_ids=shard_ids, shard_count=shard_count, check_for_updates=False)
    try:
        await asyncio.wait_for(complete.wait(), _TIMEOUT)
    finally:
        await bot.close()
    print(json.dumps({"ready": ready, "guild_creates": guild_creates}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), [int(s) for s in sys.argv[4:]]))
