"""Which records go to which pipeline stream, with or without message content.

A route is one pipeline's subscription: the record kinds it takes, the task that consumes its
batches, and whether it reads message text. Only routes with `with_content` get `content`;
every other stream carries `content: null`, so text reaches no more workers than need it.
"""

from __future__ import annotations

import dataclasses
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Iterable

    from townsquare.core.events import GuildRecord, MessageRecord, VoiceStateRecord

__all__ = ["DEFAULT_ROUTES", "XP_ROUTE", "Route", "route_record"]


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    pipeline: str
    """The pipeline whose stream (`Keyspace.key("stream", pipeline)`) gets the batches."""
    task_name: str
    """The task a worker runs with each batch: `task_name(records: list[dict])`."""
    kinds: frozenset[str]
    """Record kinds (`message`, `voice`, `guild`) this pipeline takes."""
    with_content: bool = False
    """Whether message records keep their text on this stream."""


XP_ROUTE: typing.Final = Route("xp", "xp.process_batch", frozenset({"message", "voice", "guild"}))
DEFAULT_ROUTES: typing.Final[tuple[Route, ...]] = (XP_ROUTE,)
"""What shards publish today. Automod and the assistant add their routes (`with_content`)."""


def route_record(
    record: MessageRecord | VoiceStateRecord | GuildRecord, routes: Iterable[Route]
) -> list[tuple[str, dict[str, typing.Any]]]:
    """`(pipeline, record as JSON data)` for each route that takes the record."""
    routed: list[tuple[str, dict[str, typing.Any]]] = []
    full = record.model_dump(mode="json")
    plain = full if full.get("content") is None else full | {"content": None}
    for route in routes:
        if record.kind in route.kinds:
            routed.append((route.pipeline, full if route.with_content else plain))
    return routed
