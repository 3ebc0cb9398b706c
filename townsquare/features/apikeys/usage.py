"""What a guild uses of the API keys feature's premium limits (`USAGE`, see `Feature.usage`)."""

from __future__ import annotations

import typing

from townsquare.features.apikeys.domain.models import ApiKey
from townsquare.features.apikeys.domain.service import KEYS_LIMIT

if typing.TYPE_CHECKING:
    from townsquare.core.premium import UsageCounter

__all__ = ["USAGE"]


async def _active_keys(guild_id: int) -> int:
    return await ApiKey.filter(guild_id=guild_id, revoked_at__isnull=True).count()


USAGE: typing.Final[dict[str, UsageCounter]] = {KEYS_LIMIT: _active_keys}
