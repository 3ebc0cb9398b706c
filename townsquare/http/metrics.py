"""Prometheus metrics of the HTTP service, in a registry per app (tests build many apps)."""

from __future__ import annotations

import dataclasses
import typing

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["Metrics"]

if typing.TYPE_CHECKING:
    _RequestChildren = tuple[Counter, Histogram]


_METHODS: typing.Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
)


@dataclasses.dataclass(frozen=True, slots=True)
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    config_changes: Counter
    _children: dict[tuple[str, str, int], _RequestChildren] = dataclasses.field(
        default_factory=dict
    )
    """The labelled children per (route, method, status): `.labels()` builds a tuple key, takes
    a lock and validates on every call; a few dozen combinations ever occur."""

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

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and its time (route: the URL rule's template).

        A method outside HTTP's usual ones counts as `other`: the client chooses it, and each
        label value is a series Prometheus keeps.
        """
        if method not in _METHODS:
            method = "other"
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route),
            )
        counter, histogram = children
        counter.inc()
        histogram.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
