"""Premium tiers: manual grants by operators and Discord entitlements (docs/console.md).

- `domain/`: subscriptions (`premium_subscriptions`), the overview, grant/extend/revoke;
- `console/`: the operator console's premium pane.
"""

from __future__ import annotations

from townsquare.core.features import Feature

__all__ = ["FEATURE"]

FEATURE = Feature(
    name="premium",
    models=("townsquare.features.premium.domain.models",),
    console="townsquare.features.premium.console",
)
