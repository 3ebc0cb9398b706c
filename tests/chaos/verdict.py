"""One invariant's verdict, as the report's table shows it."""

from __future__ import annotations

import dataclasses

__all__ = ["Check"]


@dataclasses.dataclass(frozen=True, slots=True)
class Check:
    name: str
    held: bool
    detail: str
