"""`run_shards`: the body of `townsquare shards`."""

from __future__ import annotations

import asyncio
import contextlib
import typing

from townsquare.core import db
from townsquare.shards.cluster import ShardCluster, ShardSet
from townsquare.shards.metrics import shard_listener

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
    metrics_port: int | None = None,
) -> None:
    """Run one hikari `GatewayBot` over `shard_ids` of `shard_count` until `shutdown` is set.

    Returns after a clean stop (backlog delivered if Redis allows, health marked `stopped`);
    raises what stopped the gateway otherwise (a bad token, a disallowed intent). `cluster`
    only labels the health hashes. Choose the shard ids with `parse_shard_selection` and
    `resolve_shard_selection`.

    The slash commands read guild configuration through to PostgreSQL on a cache miss and the
    XP admin commands write audit entries: with `database_url` the ORM is connected for the
    run; without it the caller must hold `townsquare.core.db.connect` open.

    The `/metrics`, `/healthz` and `/readyz` listener takes `metrics_port` (default:
    `metrics.shards_port`; 0: none).
    """
    async with contextlib.AsyncExitStack() as stack:
        if database_url is not None:
            await stack.enter_async_context(db.connect(database_url, pool_max=2))
        chosen = ShardSet(target, shard_ids, shard_count, cluster)
        port = settings.metrics.shards_port if metrics_port is None else metrics_port
        await _run(ShardCluster(settings, redis_url, keyspace, chosen), shutdown, port)


async def _run(shards: ShardCluster, shutdown: asyncio.Event, metrics_port: int) -> None:
    """Run `shards` until `shutdown` is set or the gateway stops (raising why), with the
    process's listener on `metrics_port` (0: none) from before the shards connect."""
    listener = shard_listener(shards)
    if metrics_port:
        await listener.start(shards.settings.metrics.host, metrics_port)
    try:
        await shards.start()
    except BaseException:
        await listener.stop()
        raise
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
        await listener.stop()
