"""Gateway shards: hikari clients that normalise events and publish them to Redis streams.

Entry point for the CLI (docs/shards.md)::

    # --cluster 0 --clusters 2; or parse_shard_selection(shard_ids="0,1", shard_count=4)
    selection = parse_shard_selection(cluster=0, clusters=2)
    shard_ids, shard_count = await resolve_shard_selection(selection, settings, target)
    await run_shards(settings, redis_url, keyspace, target, shard_ids, shard_count, shutdown=stop)
"""

from __future__ import annotations

from townsquare.shards.cluster import ShardCluster, ShardSet, make_gateway_bot
from townsquare.shards.intents import cache_settings, gateway_intents, needs_message_content
from townsquare.shards.runner import run_shards
from townsquare.shards.selection import (
    ShardSelection,
    ShardSelectionError,
    cluster_shard_ids,
    fetch_recommended_shard_count,
    parse_shard_selection,
    resolve_shard_selection,
)
from townsquare.shards.sessions import ShardLeaseLostError

__all__ = [
    "ShardCluster",
    "ShardLeaseLostError",
    "ShardSelection",
    "ShardSelectionError",
    "ShardSet",
    "cache_settings",
    "cluster_shard_ids",
    "fetch_recommended_shard_count",
    "gateway_intents",
    "make_gateway_bot",
    "needs_message_content",
    "parse_shard_selection",
    "resolve_shard_selection",
    "run_shards",
]
