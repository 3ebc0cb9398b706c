"""Which records a feature's pipeline takes from the shards: its route (declared by the feature).

A route is one pipeline's subscription: the record kinds it takes, the task that consumes its
batches, and whether it reads message text. The shards publish by the enabled features'
routes (`townsquare.shards.routes`); only routes with `with_content` get `content`.
"""

from __future__ import annotations

import dataclasses

__all__ = ["Route"]


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
