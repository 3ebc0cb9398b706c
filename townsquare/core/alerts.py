"""Operator alerts: conditions someone running the deployment should see.

Every process appends to one capped stream (keyspace family `alerts`); the console shows the
newest. An alert is a few flat string fields so any Redis client can read it: `at` (ISO 8601,
UTC), `level` (`warning` or `error`), `source` (the component), `message` (one sentence), and
optional `guild_id`.

:func:`alert_fields` builds the fields without writing them, for a caller that appends the
alert in the same transaction as what it reports (a dead letter). :func:`raise_alert_once`
lets several processes that saw the same condition (every worker sees a Redis outage) raise
one alert between them.
"""

from __future__ import annotations

import datetime
import typing
from typing import Literal

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = ["ALERTS_MAXLEN", "Level", "alert_fields", "raise_alert", "raise_alert_once"]

ALERTS_MAXLEN = 10_000

Level = Literal["warning", "error"]


def alert_fields(
    *,
    source: str,
    message: str,
    level: Level = "error",
    guild_id: int | None = None,
    at: datetime.datetime | None = None,
) -> dict[str, str]:
    """The stream fields of one alert."""
    moment = at or datetime.datetime.now(datetime.UTC)
    fields: dict[str, str] = {
        "at": moment.isoformat(timespec="seconds"),
        "level": level,
        "source": source,
        "message": message,
    }
    if guild_id is not None:
        fields["guild_id"] = str(guild_id)
    return fields


async def raise_alert(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    *,
    source: str,
    message: str,
    level: Level = "error",
    guild_id: int | None = None,
) -> str:
    """Append an alert; returns its stream id."""
    fields = alert_fields(source=source, message=message, level=level, guild_id=guild_id)
    entry_id = await redis.xadd(
        keyspace.key("alerts"),
        fields,  # type: ignore[arg-type]
        maxlen=ALERTS_MAXLEN,
        approximate=True,
    )
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


async def raise_alert_once(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    *,
    condition: str,
    within_seconds: int,
    source: str,
    message: str,
    level: Level = "error",
) -> str | None:
    """Raise the alert unless another process raised one for `condition` in the last
    `within_seconds`; returns the alert's stream id, or None when it was left to the other.

    `condition` is a short name (`redis_unavailable`); the claim is an `alert_once` key set
    with NX and a TTL, so a process that dies after claiming costs one alert, never a flood.
    """
    claimed = await redis.set(
        keyspace.key("alert_once", condition), "1", nx=True, ex=max(1, within_seconds)
    )
    if not claimed:
        return None
    return await raise_alert(redis, keyspace, source=source, message=message, level=level)
