"""XP helpers: an independent reference model of message XP, record builders, guild
configuration, waiting for a pipeline to drain, and members' totals in Redis."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import typing
from decimal import Decimal

from tests.support.waiting import wait_until
from townsquare.core.audit.service import Actor
from townsquare.core.config.service import load_guild_config, update_guild_config
from townsquare.core.events import MessageRecord, encode_job
from townsquare.core.events.wire import DATA_FIELD
from townsquare.core.settings import load_settings
from townsquare.features.xp.domain.config import XPSection

if typing.TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import redis.asyncio as aioredis

    from townsquare.core.config.schemas import GuildConfig
    from townsquare.core.keyspace import Keyspace

__all__ = [
    "SETTINGS",
    "Totals",
    "configure",
    "drained",
    "mark_loaded",
    "message",
    "reference_levels",
    "reference_totals",
    "send_batch",
    "wait_drained",
]

SETTINGS = load_settings(environ={}, env_file=None)


def message(
    guild: int,
    author: int,
    message_id: int,
    ts: int,
    *,
    channel: int = 500,
    roles: tuple[int, ...] = (),
) -> MessageRecord:
    return MessageRecord(
        guild_id=guild,
        channel_id=channel,
        author_id=author,
        message_id=message_id,
        timestamp_ms=ts,
        role_ids=roles,
        length=10,
        mention_count=0,
        link_count=0,
    )


def reference_totals(records: Iterable[MessageRecord], config: GuildConfig) -> dict[int, int]:
    """What the records earn, computed the plain way: per member in time order, a message
    earns if it comes at least the cooldown after the member's last earning message;
    excluded messages earn nothing and start no cooldown."""
    xp = config.section(XPSection)
    totals: dict[int, int] = {}
    last: dict[int, int] = {}
    unique = {r.message_id: r for r in records}.values()
    for r in sorted(unique, key=lambda r: (r.timestamp_ms, r.message_id)):
        totals.setdefault(r.author_id, 0)
        if r.channel_id in xp.no_xp_channel_ids or set(r.role_ids) & set(xp.no_xp_role_ids):
            continue
        if r.author_id in last and r.timestamp_ms - last[r.author_id] < xp.cooldown_seconds * 1000:
            continue
        spread = xp.per_message_max - xp.per_message_min + 1
        base = (
            xp.per_message_min
            + int(hashlib.sha256(str(r.message_id).encode()).hexdigest(), 16) % spread
        )
        roles = [
            Decimal(str(xp.role_multipliers[x])) for x in r.role_ids if x in xp.role_multipliers
        ]
        factor = (max(roles) if roles else Decimal(1)) * Decimal(
            str(xp.channel_multipliers.get(r.channel_id, 1.0))
        )
        amount = math.floor(base * factor)
        if amount:  # a message worth nothing (multiplier 0) starts no cooldown
            totals[r.author_id] += amount
            last[r.author_id] = r.timestamp_ms
    return totals


def reference_levels(totals: dict[int, int]) -> dict[int, int]:
    """MEE6 levels by walking the formula."""
    levels = {}
    for member, total in totals.items():
        level, needed = 0, 100
        while total >= needed:
            level += 1
            needed += 5 * level * level + 50 * level + 100
        levels[member] = level
    return levels


async def configure(guild_id: int, **sections: object) -> GuildConfig:
    """Store a guild configuration: the defaults with `xp=...`/`levels=...` updates (dicts)."""
    defaults = SETTINGS.guild_defaults
    current = await load_guild_config(guild_id, defaults)
    document = defaults.model_dump(mode="json")
    for name, update in sections.items():
        typing.cast("dict[str, object]", document[name]).update(
            typing.cast("dict[str, object]", update)
        )
    new = type(defaults).model_validate(document)
    await update_guild_config(
        guild_id, new, expected_version=current.version, actor=Actor.system(), defaults=defaults
    )
    return new


async def send_batch(
    redis: aioredis.Redis, keyspace: Keyspace, records: Sequence[MessageRecord | typing.Any]
) -> None:
    """XADD a batch to the `xp` stream the way a shard does."""
    job = encode_job("xp.process_batch", [r.model_dump(mode="json") for r in records])
    await redis.xadd(keyspace.key("stream", "xp"), {DATA_FIELD: job})


async def drained(redis: aioredis.Redis, keyspace: Keyspace, pipeline: str) -> bool:
    """Every entry of the pipeline's stream delivered and acknowledged, nothing to retry."""
    stream = keyspace.key("stream", pipeline)
    if not await redis.exists(stream):
        return True
    info = await redis.xinfo_stream(stream)
    groups = await redis.xinfo_groups(stream)
    if not groups or await redis.zcard(keyspace.key("retry", pipeline)):
        return False
    group = groups[0]
    last = info["last-generated-id"]
    return bool(group["pending"] == 0 and group["last-delivered-id"] == last)


async def wait_drained(
    redis: aioredis.Redis, keyspace: Keyspace, *pipelines: str, within: float = 20.0
) -> None:
    """Until each pipeline is `drained`, in turn."""
    for pipeline in pipelines:
        await wait_until(
            lambda p=pipeline: drained(redis, keyspace, p),
            within=within,
            what=f"{pipeline} drained",
        )


async def mark_loaded(redis: aioredis.Redis, keyspace: Keyspace, guild_id: int) -> None:
    """Set the guild's `xp_loaded` marker, as a load would: for tests without PostgreSQL, or
    whose guild must count as loaded before its XP is written (docs/xp.md)."""
    await redis.set(keyspace.key("xp_loaded", guild_id), 1)


@dataclasses.dataclass(frozen=True, slots=True)
class Totals:
    """Members' XP totals of one guild, read and written straight in Redis."""

    redis: aioredis.Redis
    keyspace: Keyspace
    guild_id: int

    async def put(self, totals: dict[int, int]) -> None:
        """Write these members' totals."""
        mapping = {str(m): x for m, x in totals.items()}
        await self.redis.hset(self.keyspace.key("xp", self.guild_id), mapping=mapping)  # type: ignore[arg-type]

    async def of(self, member: int) -> int:
        """A member's total (0 without one)."""
        return int(await self.redis.hget(self.keyspace.key("xp", self.guild_id), str(member)) or 0)

    async def all(self) -> dict[int, int]:
        """Every member's total."""
        raw = await self.redis.hgetall(self.keyspace.key("xp", self.guild_id))
        return {int(member): int(xp) for member, xp in raw.items()}
