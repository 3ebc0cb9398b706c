"""What a guild uses of the assistant's premium limits (`USAGE` and `PERIOD_USAGE`, see
`Feature.usage`): the knowledge-base documents (PostgreSQL), and the model tokens spent today,
read from the daily counter the budget script keeps in Redis (`ai_tokens`)."""

from __future__ import annotations

import typing

from townsquare.features.assistant.domain.budget import DOCUMENTS, TOKENS_PER_DAY
from townsquare.features.assistant.domain.knowledge import counted_documents
from townsquare.features.assistant.domain.limits import utc_day

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.premium import PeriodUsageReader, UsageCounter

__all__ = ["PERIOD_USAGE", "USAGE", "tokens_today"]


async def tokens_today(redis: aioredis.Redis, keyspace: Keyspace, guild_id: int) -> int:
    """Model tokens the guild reserved or spent this UTC day (0 before its first question)."""
    raw = await redis.get(keyspace.key("ai_tokens", guild_id, utc_day()))
    return int(raw or 0)


USAGE: typing.Final[dict[str, UsageCounter]] = {DOCUMENTS: counted_documents}
PERIOD_USAGE: typing.Final[dict[str, PeriodUsageReader]] = {TOKENS_PER_DAY: tokens_today}
