"""Alerts: conditions someone must see, for the operators or for one guild's admins (flow 14).

Every process appends to one capped stream (keyspace family `alerts`); the console shows the
newest, and the delivery task (:mod:`townsquare.core.alert_delivery`) routes each to Discord.
An alert is a few flat string fields so any Redis client can read it: `at` (ISO 8601, UTC),
`level` (the severity: `info`, `warning`, `error` or `critical`), `source` (the component),
`message` (one sentence), `key` (what makes two alerts "the same" for deduplication: the same
condition, e.g. `xp.reward_role_forbidden/<role id>`), and optional `guild_id` (the alert
concerns that guild; its admins are told in the guild's log channel, or the owner by DM).

An alert about a guild is also indexed in the guild's own short stream (`guild_alerts`), in
the same script as the main one, so the dashboard lists a guild's open alerts without reading
everyone's. Acknowledging an alert (console or dashboard) adds its id to `alert_acks`, a
sorted set trimmed with the stream: an alert is open until acknowledged.

:func:`alert_fields` builds the fields without writing them, for a caller that appends the
alert in the same transaction as what it reports (a dead letter). :func:`raise_alert_once`
lets several processes that saw the same condition (every worker sees a Redis outage) raise
one alert between them.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import typing
from typing import Literal

from townsquare.core.replies import as_text

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = [
    "ALERTS_MAXLEN",
    "GUILD_ALERTS_MAXLEN",
    "LEVELS",
    "Alert",
    "Level",
    "acknowledge_alert",
    "acknowledged",
    "alert_fields",
    "default_key",
    "guild_alerts",
    "open_alerts",
    "parse_alert",
    "raise_alert",
    "raise_alert_once",
]

ALERTS_MAXLEN = 10_000
GUILD_ALERTS_MAXLEN = 200
"""A guild's own index keeps its newest 200 alerts (the dashboard shows the open ones)."""

Level = Literal["info", "warning", "error", "critical"]
LEVELS: typing.Final[tuple[Level, ...]] = ("info", "warning", "error", "critical")
"""Severities, mildest first."""

_RAISE = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 3))
if #KEYS > 1 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'alert_id', id, unpack(ARGV, 3))
end
return id
"""

_ACK = """
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if oldest[1] then
  local ms = tonumber(string.match(oldest[1][1], '^(%d+)'))
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ms)
end
return 1
"""


def default_key(source: str, message: str) -> str:
    """The key of an alert raised without one: its source and a digest of its message, so
    only identical alerts count as repeats."""
    return f"{source}/{hashlib.sha256(message.encode()).hexdigest()[:16]}"


def alert_fields(
    *,
    source: str,
    message: str,
    level: Level = "error",
    guild_id: int | None = None,
    at: datetime.datetime | None = None,
    key: str | None = None,
) -> dict[str, str]:
    """The stream fields of one alert."""
    if level not in LEVELS:
        raise ValueError(f"alert level {level!r} is not one of {', '.join(LEVELS)}")
    moment = at or datetime.datetime.now(datetime.UTC)
    fields: dict[str, str] = {
        "at": moment.isoformat(timespec="seconds"),
        "level": level,
        "source": source,
        "message": message,
        "key": (key or default_key(source, message))[:200],
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
    key: str | None = None,
) -> str:
    """Append an alert (and index it under its guild); returns its stream id.

    `key` names the condition for deduplication (default: the source and the message);
    `guild_id` routes it to that guild's admins besides the operators' console.
    """
    fields = alert_fields(source=source, message=message, level=level, guild_id=guild_id, key=key)
    keys = [keyspace.key("alerts")]
    if guild_id is not None:
        keys.append(keyspace.key("guild_alerts", guild_id))
    flat = [part for pair in fields.items() for part in pair]
    entry_id = await redis.register_script(_RAISE)(
        keys=keys, args=[ALERTS_MAXLEN, GUILD_ALERTS_MAXLEN, *flat]
    )
    return as_text(entry_id)


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
    return await raise_alert(
        redis, keyspace, source=source, message=message, level=level, key=condition
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Alert:
    """One alert as read back."""

    alert_id: str
    """Its id in the `alerts` stream (what acknowledging names)."""
    at: str
    level: str
    source: str
    message: str
    key: str
    guild_id: int | None


def parse_alert(entry_id: str, raw: typing.Mapping[typing.Any, typing.Any]) -> Alert:
    """An alert from its stream entry (main stream or a guild's index)."""
    fields = {as_text(name): as_text(value) for name, value in raw.items()}
    guild = fields.get("guild_id", "")
    return Alert(
        alert_id=fields.get("alert_id") or entry_id,
        at=fields.get("at", ""),
        level=fields.get("level", ""),
        source=fields.get("source", ""),
        message=fields.get("message", ""),
        key=fields.get("key", ""),
        guild_id=int(guild) if guild.isdigit() else None,
    )


def _entry_ms(alert_id: str) -> int:
    millis, _, _ = alert_id.partition("-")
    if not millis.isdigit():
        raise ValueError(f"{alert_id!r} is not an alert id")
    return int(millis)


async def acknowledge_alert(redis: aioredis.Redis, keyspace: Keyspace, alert_id: str) -> None:
    """Mark the alert `alert_id` (its `alerts` stream id) as seen; it is no longer open.

    Acknowledging again changes nothing; acknowledgements older than the stream's oldest
    entry are dropped in the same call, so the set never outgrows the stream.
    """
    await redis.register_script(_ACK)(
        keys=[keyspace.key("alerts"), keyspace.key("alert_acks")],
        args=[_entry_ms(alert_id), alert_id],
    )


async def acknowledged(
    redis: aioredis.Redis, keyspace: Keyspace, alert_ids: typing.Sequence[str]
) -> set[str]:
    """Which of `alert_ids` are acknowledged."""
    if not alert_ids:
        return set()
    scores = await redis.zmscore(keyspace.key("alert_acks"), list(alert_ids))
    return {alert_id for alert_id, score in zip(alert_ids, scores, strict=True) if score}


async def guild_alerts(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, *, count: int = 50
) -> list[Alert]:
    """The guild's newest `count` alerts, newest first."""
    entries = await redis.xrevrange(keyspace.key("guild_alerts", guild_id), count=count)
    return [parse_alert(as_text(entry_id), raw or {}) for entry_id, raw in entries or []]


async def open_alerts(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, *, count: int = 50
) -> list[Alert]:
    """The guild's newest alerts that nobody acknowledged, newest first."""
    alerts = await guild_alerts(redis, keyspace, guild_id, count=count)
    done = await acknowledged(redis, keyspace, [alert.alert_id for alert in alerts])
    return [alert for alert in alerts if alert.alert_id not in done]
