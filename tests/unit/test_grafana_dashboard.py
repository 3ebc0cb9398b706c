"""docs/grafana-dashboard.json queries only metrics the processes export."""

from __future__ import annotations

import json
import re
import types
import typing
from pathlib import Path

from prometheus_client import CollectorRegistry

from townsquare.http.metrics import Metrics
from townsquare.shards.health import ShardStats
from townsquare.shards.metrics import ShardCollector
from townsquare.tasks.metrics import SchedulerMetrics, WorkerMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
METRIC = re.compile(r"\btownsquare_[a-z0-9_]+")
SUFFIXES: typing.Final = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def exported(registry: CollectorRegistry) -> set[str]:
    """Every sample name the registry can expose, whether or not a sample exists yet."""
    return {
        family.name + suffix for family in registry.collect() for suffix in SUFFIXES[family.type]
    }


def every_exported_name() -> set[str]:
    # The shard collector reads a running cluster; the smallest stand-in of one names them.
    cluster = types.SimpleNamespace(
        stats={0: ShardStats()},
        bot=types.SimpleNamespace(shards={}),
        publisher=types.SimpleNamespace(backlog=0, drops=0),
    )
    shards = ShardCollector(cluster)  # type: ignore[arg-type]
    shard_registry = CollectorRegistry()
    shard_registry.register(shards)
    registries = [
        Metrics.create().registry,
        WorkerMetrics.create().registry,
        SchedulerMetrics().registry,
        shard_registry,
    ]
    return set().union(*(exported(registry) for registry in registries))


def test_the_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expression in expressions for name in METRIC.findall(expression)}
    names = every_exported_name()
    assert used, "the dashboard queries nothing"
    assert used <= names, f"not exported by any process: {sorted(used - names)}"
    # Each process kind has a panel.
    for prefix in (
        "townsquare_shard_",
        "townsquare_task",
        "townsquare_scheduler_",
        "townsquare_http_",
    ):
        assert any(name.startswith(prefix) for name in used), prefix


def test_a_made_up_metric_would_be_caught() -> None:
    assert "townsquare_shard_events_total" in every_exported_name()
    assert "townsquare_shard_events" not in every_exported_name()  # a counter needs _total
    assert "townsquare_made_up_total" not in every_exported_name()
