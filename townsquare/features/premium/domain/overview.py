"""What a guild sees of its premium: tier, source, end, each limit with its usage, and what
every tier offers (built from the catalogue). `/premium`, the dashboard's premium page and its
`/api/v1` twin all show this one body."""

from __future__ import annotations

import typing

from townsquare.core.premium import LIMITS, LimitKind, guild_usage
from townsquare.features.premium.domain.status import guild_premium
from townsquare.features.premium.domain.wire import LimitShown, PremiumShown, TierShown

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.premium import Limit, LimitValue, PremiumCatalogue

__all__ = ["overview"]


def _shown(value: LimitValue, usage: int | None) -> tuple[bool, int | None]:
    if usage is None or value is None or isinstance(value, bool):
        return False, None
    if value == 0:
        return usage > 0, 100 if usage else 0
    return usage > value, min(100, round(100 * usage / value))


async def overview(
    guild_id: int, catalogue: PremiumCatalogue, redis: aioredis.Redis, keyspace: Keyspace
) -> PremiumShown:
    """The guild's premium as every surface shows it (PostgreSQL: the state and the counted
    usage; Redis: what the current period used of a per-period limit)."""
    premium = await guild_premium(guild_id, catalogue)
    usage = await guild_usage(guild_id, redis=redis, keyspace=keyspace)
    limits = []
    for name, limit in LIMITS.items():
        value = catalogue.value(premium.tier, name)
        used = usage.get(name)
        over, percent = _shown(value, used)
        # A period's allowance is spent, not exceeded: nothing of it is paused.
        over = over and limit.kind is LimitKind.COUNT
        if limit.kind is LimitKind.BOOLEAN:
            explain = catalogue.verdict(premium.tier, name).explain()
        else:
            verdict = catalogue.verdict(premium.tier, name, usage=used or 0, adding=0)
            explain = verdict.explain() if used is not None else _per(limit.unit, value, limit)
        limits.append(
            LimitShown(
                name=name,
                kind=str(limit.kind),
                unit=limit.unit,
                description=limit.description,
                value=value,
                usage=used,
                over=over,
                percent=percent,
                explain=explain,
            )
        )
    tiers = [
        TierShown(
            key=tier.key,
            name=tier.name,
            values={name: catalogue.value(tier, name) for name in LIMITS},
        )
        for tier in catalogue.tiers
    ]
    return PremiumShown(
        guild_id=str(guild_id),
        tier=premium.tier.key,
        tier_name=premium.tier.name,
        source=premium.source,
        ends_at=premium.ends_at.isoformat() if premium.ends_at else None,
        limits=limits,
        tiers=tiers,
    )


def _per(unit: str, value: LimitValue, limit: Limit) -> str:
    period = f" per {limit.period}" if limit.period else ""
    shown = "no limit" if value is None else f"{value:,}"
    return f"{shown} {unit}{period}."
