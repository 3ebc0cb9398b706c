"""Premium tiers: Discord App Subscriptions and manual grants, the tier each guild is on, its
grace period, and what it sees of its limits (docs/premium.md). The gate itself is the
kernel's (`townsquare.core.premium`), so every feature asks it without importing this one.

- `domain/`: subscriptions, entitlements, the guild's state (tier, grace), notices;
- `tasks.py`: entitlement events, reconciliation with Discord, the every-minute sweep;
- `commands.py`: `/premium`;
- `web/`: the dashboard's premium page and its `/api/v1` twin;
- `console/`: the operator console's premium pane.
"""

from __future__ import annotations

from townsquare.core.features import Feature
from townsquare.features.premium.domain.jobs import (
    PREMIUM_FAMILIES,
    PREMIUM_ROUTE,
    PREMIUM_SCHEDULES,
)

__all__ = ["FEATURE"]

FEATURE = Feature(
    name="premium",
    models=("townsquare.features.premium.domain.models",),
    key_families=PREMIUM_FAMILIES,
    pipelines=("jobs",),
    routes=(PREMIUM_ROUTE,),
    schedules=PREMIUM_SCHEDULES,
    commands="townsquare.features.premium.commands",
    tasks="townsquare.features.premium.tasks",
    web="townsquare.features.premium.web",
    console="townsquare.features.premium.console",
)
"""Premium tiers and subscriptions."""
