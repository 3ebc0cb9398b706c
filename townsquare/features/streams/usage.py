"""What a guild uses of the live alerts' premium limits (`USAGE`, see `Feature.usage`)."""

from __future__ import annotations

import typing

from townsquare.features.streams.domain.feeds import FEEDS_LIMIT, count_feeds

if typing.TYPE_CHECKING:
    from townsquare.core.premium import UsageCounter

__all__ = ["USAGE"]

USAGE: typing.Final[dict[str, UsageCounter]] = {FEEDS_LIMIT: count_feeds}
