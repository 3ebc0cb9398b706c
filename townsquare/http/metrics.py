"""Prometheus metrics of the HTTP service, in a registry per app (tests build many apps).

They are not served by the app itself: the route counts name every route, `/internal/v1`
included, which is nobody's business on the public port. :func:`metrics_app` serves them on a
listener of their own (`http.metrics_host`:`http.metrics_port`, loopback by default), which
:func:`~townsquare.http.app.run_http` starts next to the app.
"""

from __future__ import annotations

import dataclasses
import typing

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

__all__ = ["METRICS_PATH", "Metrics", "metrics_app"]

if typing.TYPE_CHECKING:
    from hypercorn.typing import (
        ASGIReceiveCallable,
        ASGISendCallable,
        HTTPResponseBodyEvent,
        HTTPResponseStartEvent,
        Scope,
    )

    _RequestChildren = tuple[Counter, Histogram]
    _ASGIApp = typing.Callable[
        [Scope, ASGIReceiveCallable, ASGISendCallable], typing.Awaitable[None]
    ]

METRICS_PATH: typing.Final = "/metrics"


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


def metrics_app(metrics: Metrics) -> _ASGIApp:
    """A bare ASGI app: `GET`/`HEAD /metrics` in Prometheus' text format, 404 elsewhere.

    No Quart: the listener answers one path, and it must keep answering while the app's own
    request handling is what an operator is looking into.
    """

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        if scope["path"] != METRICS_PATH:
            status, content_type, body = 404, b"text/plain; charset=utf-8", b"not found\n"
        elif scope["method"] not in {"GET", "HEAD"}:
            status, content_type, body = 405, b"text/plain; charset=utf-8", b"GET only\n"
        else:
            status, content_type, body = 200, CONTENT_TYPE_LATEST.encode(), metrics.render()
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        if status == 405:
            headers.append((b"allow", b"GET, HEAD"))
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": status,
            "headers": headers,
        }
        await send(start)
        answer: HTTPResponseBodyEvent = {
            "type": "http.response.body",
            "body": b"" if scope["method"] == "HEAD" else body,
            "more_body": False,
        }
        await send(answer)

    return app
