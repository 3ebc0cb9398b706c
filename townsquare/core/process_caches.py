"""Per-process caches of features, kept on the process's resources object, not in module
globals.

Each runtime's resources object (the worker's `TaskResources`, the HTTP service's
`HTTPState`, the shards' `CommandServices`) has one :class:`ProcessCaches`; a feature declares
a :class:`CacheSlot` next to the code that uses it and asks for it there
(`resources.caches.get(SLOT)`). So a cache lives and dies with its process's resources: two
apps or workers in one interpreter (the tests, a benchmark) do not share one, and a test gets
a fresh one with fresh resources instead of clearing a global.
"""

from __future__ import annotations

import dataclasses
import typing

if typing.TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["CacheSlot", "ProcessCaches"]


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class CacheSlot[T]:
    """One feature's cache: its name (unique per process) and how to make it empty."""

    name: str
    """`<feature>.<what>`, e.g. `streams.followed`."""
    factory: Callable[[], T]


class ProcessCaches:
    """The caches of one process's features, each made on first use."""

    def __init__(self) -> None:
        self._made: dict[str, tuple[CacheSlot[typing.Any], object]] = {}

    def get[T](self, slot: CacheSlot[T]) -> T:
        """`slot`'s cache in this process (made empty the first time)."""
        made = self._made.get(slot.name)
        if made is None:
            made = self._made[slot.name] = (slot, slot.factory())
        elif made[0] is not slot:
            msg = f"two cache slots are named {slot.name!r}"
            raise ValueError(msg)
        return typing.cast("T", made[1])
