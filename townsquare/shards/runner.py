"""`run_shards`: the body of `townsquare shards`."""

from __future__ import annotations

import asyncio
import contextlib
import typing

from townsquare.core import db
from townsquare.shards.cluster import ShardCluster

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    from townsquare.core.discord import DiscordTarget
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings

__all__ = ["run_shards"]


async def run_shards(  # noqa: PLR0917 - the signature the CLI and tests share
    settings: Settings,
    redis_url: str,
    keyspace: Keyspace,
    target: DiscordTarget,
    shard_ids: Sequence[int],
    shard_count: int,
    *,
    shutdown: asyncio.Event,
    cluster: int | None = None,
    database_url: str | None = None,
) -> None:
    """Run one hikari `GatewayBot` over `shard_ids` of `shard_count` until `shutdown` is set.

    Returns after a clean stop (backlog delivered if Redis allows, health marked `stopped`);
    raises what stopped the gateway otherwise (a bad token, a disallowed intent). `cluster`
    only labels the health hashes. Choose the shard ids with `parse_shard_selection` and
    `resolve_shard_selection`.

    The slash commands read guild configuration through to PostgreSQL on a cache miss and the
    XP admin commands write audit entries: with `database_url` the ORM is connected for the
    run; without it the caller must hold `townsquare.core.db.connect` open.
    """
    async with contextlib.AsyncExitStack() as stack:
        if database_url is not None:
            await stack.enter_async_context(db.connect(database_url, pool_max=2))
        await _run(
            settings,
            redis_url,
            keyspace,
            target,
            shard_ids,
            shard_count,
            shutdown=shutdown,
            cluster=cluster,
        )


async def _run(  # noqa: PLR0917 - run_shards' signature
    settings: Settings,
    redis_url: str,
    keyspace: Keyspace,
    target: DiscordTarget,
    shard_ids: Sequence[int],
    shard_count: int,
    *,
    shutdown: asyncio.Event,
    cluster: int | None,
) -> None:
    shards = ShardCluster(
        settings, redis_url, keyspace, target, shard_ids, shard_count, cluster=cluster
    )
    await shards.start()
    try:
        stop = asyncio.create_task(shutdown.wait(), name="shards-shutdown")
        gateway = asyncio.create_task(shards.join(), name="shards-gateway")
        try:
            await asyncio.wait({stop, gateway}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if gateway.done():
            gateway.result()  # the gateway stopped on its own: raise why
        else:
            gateway.cancel()
    finally:
        await shards.close()
