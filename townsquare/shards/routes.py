"""Which records go to which pipeline stream, with or without message content.

Each enabled feature declares its routes (:class:`~townsquare.core.events.routes.Route`):
the record kinds its pipeline takes, the task that consumes the batches, and whether it reads
message text. Only routes with `with_content` get `content`; every other stream carries
`content: null`, so text reaches no more workers than need it.
"""

from __future__ import annotations

import typing

from townsquare.core.events.routes import Route
from townsquare.core.features import enabled_features

if typing.TYPE_CHECKING:
    from collections.abc import Iterable

    from townsquare.core.events.records import AnyRecord

__all__ = ["Route", "feature_routes", "route_record"]


def feature_routes() -> tuple[Route, ...]:
    """The routes of the enabled features, in feature order (XP's today)."""
    return tuple(route for feature in enabled_features() for route in feature.routes)


def route_record(
    record: AnyRecord, routes: Iterable[Route]
) -> list[tuple[Route, dict[str, typing.Any]]]:
    """`(route, record as JSON data)` for each route that takes the record. Several routes
    may share a pipeline (the kernel's `jobs`): each keeps its own task."""
    routed: list[tuple[Route, dict[str, typing.Any]]] = []
    full = record.model_dump(mode="json")
    plain = full if full.get("content") is None else full | {"content": None}
    for route in routes:
        if record.kind in route.kinds:
            routed.append((route, full if route.with_content else plain))
    return routed
