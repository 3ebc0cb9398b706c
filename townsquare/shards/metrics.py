"""Prometheus metrics of a shard process, read from its live state at scrape time
(docs/metrics.md): nothing is added to the event handlers' path.

Per shard: gateway events handled (Prometheus' `rate()` gives events/s), heartbeat latency,
reconnects and resumes, guilds; per process: the publisher's backlog (records not yet known
to be in Redis) and the records it dropped while Redis was away.
"""

from __future__ import annotations

import math
import typing

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from townsquare.core.observability import Check, ProcessListener, redis_check

if typing.TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client import Metric

    from townsquare.shards.cluster import ShardCluster

__all__ = ["ShardCollector", "shard_listener"]


class ShardCollector(Collector):
    """The metrics of `cluster` as they are when scraped."""

    def __init__(self, cluster: ShardCluster) -> None:
        self._cluster = cluster

    def collect(self) -> Iterator[Metric]:
        cluster = self._cluster
        shards = cluster.bot.shards
        per_shard: dict[str, tuple[type[CounterMetricFamily | GaugeMetricFamily], str]] = {
            "townsquare_shard_events": (CounterMetricFamily, "Gateway events handled, by shard."),
            "townsquare_shard_reconnects": (
                CounterMetricFamily,
                "Gateway connections after the first, by shard.",
            ),
            "townsquare_shard_resumes": (CounterMetricFamily, "Gateway sessions resumed."),
            "townsquare_shard_latency_seconds": (
                GaugeMetricFamily,
                "Last heartbeat round trip, by shard (absent before the first).",
            ),
            "townsquare_shard_guilds": (GaugeMetricFamily, "Guilds the shard holds."),
            "townsquare_shard_connected": (GaugeMetricFamily, "1 while the gateway is connected."),
        }
        families = {
            name: kind(name, doc, labels=["shard"]) for name, (kind, doc) in per_shard.items()
        }
        for shard_id, stats in cluster.stats.items():
            shard = shards.get(shard_id)
            latency = math.nan if shard is None else shard.heartbeat_latency
            values = {
                "townsquare_shard_events": stats.events,
                "townsquare_shard_reconnects": stats.reconnects,
                "townsquare_shard_resumes": stats.resumes,
                "townsquare_shard_latency_seconds": latency,
                "townsquare_shard_guilds": len(stats.guild_ids),
                "townsquare_shard_connected": int(shard is not None and shard.is_connected),
            }
            for name, value in values.items():
                if not math.isnan(value):
                    families[name].add_metric([str(shard_id)], value)
        yield from families.values()
        yield GaugeMetricFamily(
            "townsquare_shard_backlog_records",
            "Records buffered or in flight, not yet known to be in Redis.",
            value=cluster.publisher.backlog,
        )
        yield CounterMetricFamily(
            "townsquare_shard_dropped_records",
            "Records dropped because the buffer was full while Redis was away.",
            value=cluster.publisher.drops,
        )


def shard_listener(cluster: ShardCluster) -> ProcessListener:
    """The process's listener: the collector above; ready when Redis answers and every shard's
    gateway is connected."""
    registry = CollectorRegistry()
    registry.register(ShardCollector(cluster))

    async def gateway() -> None:
        shards = cluster.bot.shards
        down = [i for i in cluster.shard_ids if i not in shards or not shards[i].is_connected]
        if down:
            raise RuntimeError(f"shards not connected: {down}")

    checks: dict[str, Check] = {"redis": redis_check(cluster.redis), "gateway": gateway}
    return ProcessListener("shards", registry, checks)
