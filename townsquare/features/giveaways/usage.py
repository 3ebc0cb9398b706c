"""What a guild uses of the giveaways' premium limits (`USAGE`, see `Feature.usage`).

Only `giveaways.active`: winners, requirement kinds and duration are limits of one giveaway,
asked when it starts, not something a guild holds.
"""

from __future__ import annotations

import typing

from townsquare.features.giveaways.domain.limits import ACTIVE, active_count

if typing.TYPE_CHECKING:
    from townsquare.core.premium import UsageCounter

__all__ = ["USAGE"]

USAGE: typing.Final[dict[str, UsageCounter]] = {ACTIVE: active_count}
