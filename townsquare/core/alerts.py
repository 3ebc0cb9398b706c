"""Operator alerts: conditions someone running the deployment should see.

Every process appends to one capped stream (keyspace family `alerts`); the console shows the
newest. An alert is a few flat string fields so any Redis client can read it: `at` (ISO 8601,
UTC), `level` (`warning` or `error`), `source` (the component), `message` (one sentence), and
optional `guild_id`.
"""

from __future__ import annotations

import datetime
import typing
from typing import Literal

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = ["ALERTS_MAXLEN", "raise_alert"]

ALERTS_MAXLEN = 10_000


async def raise_alert(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    *,
    source: str,
    message: str,
    level: Literal["warning", "error"] = "error",
    guild_id: int | None = None,
) -> str:
    """Append an alert; returns its stream id."""
    fields: dict[str, str] = {
        "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "level": level,
        "source": source,
        "message": message,
    }
    if guild_id is not None:
        fields["guild_id"] = str(guild_id)
    entry_id = await redis.xadd(
        keyspace.key("alerts"),
        fields,  # type: ignore[arg-type]
        maxlen=ALERTS_MAXLEN,
        approximate=True,
    )
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
