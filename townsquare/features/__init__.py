"""The enabled features: one dotted path per feature package, in the order processes load them.

Adding a feature is one folder under `townsquare/features/` (with `FEATURE = Feature(...)` in
its `__init__.py`) and one line here; nothing in the runtimes changes (docs/development.md).
Features are loaded by dotted path (`townsquare.core.features.enabled_features`), never
imported by a runtime.
"""

from __future__ import annotations

import typing

__all__ = ["ENABLED"]

ENABLED: typing.Final[tuple[str, ...]] = (
    "townsquare.features.xp",
    "townsquare.features.moderation",
    "townsquare.features.giveaways",
    "townsquare.features.streams",
    "townsquare.features.assistant",
    "townsquare.features.access",
    "townsquare.features.premium",
    "townsquare.features.apikeys",
    "townsquare.features.members",
)
