"""Prometheus metrics of the HTTP service, in a registry per app (tests build many apps)."""

from __future__ import annotations

import dataclasses

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["Metrics"]


@dataclasses.dataclass(frozen=True, slots=True)
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    config_changes: Counter

    @classmethod
    def create(cls) -> Metrics:
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            requests=Counter(
                "townsquare_http_requests",
                "HTTP requests answered, by route template, method and status.",
                ["route", "method", "status"],
                registry=registry,
            ),
            latency=Histogram(
                "townsquare_http_request_seconds",
                "Time to answer an HTTP request, by route template.",
                ["route"],
                registry=registry,
            ),
            config_changes=Counter(
                "townsquare_config_changes",
                "Guild configuration changes, by outcome.",
                ["outcome"],
                registry=registry,
            ),
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
