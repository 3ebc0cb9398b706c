"""A guild's effective tier: its best active subscription, or the tier of its grace period.

:func:`refresh_guild` derives it from the subscriptions, in the caller's transaction, and
stores it in `premium_guild_states`; :func:`publish_tiers` then copies it into Redis's
`premium_tiers` hash, which every process's gate reads. Both are idempotent: running them
again (after a restart, or from the sweep) changes nothing that is already right.

The grace period: when the paid tier drops below the effective tier, the guild keeps the
effective tier for `premium.grace_days` (3 by default) and a notice to its owner and log
channel is due (sent once by the worker). Re-subscribing to at least that tier during the
grace period ends it at once; after it, the lower tier applies and what exceeds its limits is
paused by each feature (docs/premium.md), never deleted.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from townsquare.core.guilds.service import ensure_guild
from townsquare.core.premium import guild_usage, store_guild_tier
from townsquare.features.premium.domain.models import (
    PremiumEntitlement,
    PremiumGuildState,
    PremiumSubscription,
)

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis
    from tortoise.backends.base.client import BaseDBAsyncClient

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.premium import PremiumCatalogue, Tier

__all__ = [
    "GuildPremium",
    "GuildUsage",
    "active_subscriptions",
    "best_subscription",
    "guilds_to_refresh",
    "guilds_usage",
    "publish_tiers",
    "rebuild_tiers",
    "refresh_guild",
    "sync_guild",
]


@dataclasses.dataclass(frozen=True, slots=True)
class GuildPremium:
    """A guild's premium now, as the state row says it."""

    guild_id: int
    tier: Tier
    """The effective tier: what the gate answers with."""
    paid_tier: Tier
    source: str | None
    """`manual`, `entitlement`, or None on the free tier; `grace` during a grace period."""
    ends_at: datetime.datetime | None
    """When the best active subscription ends (None: no end, or none)."""
    grace_until: datetime.datetime | None
    notice_due: bool


def active_subscriptions(now: datetime.datetime) -> Q:
    """Subscriptions that count now: started, not revoked, not expired."""
    return Q(starts_at__lte=now, revoked_at__isnull=True) & (
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


def best_subscription(
    rows: typing.Iterable[PremiumSubscription], catalogue: PremiumCatalogue
) -> PremiumSubscription | None:
    """The row that decides the tier: best tier, then the latest end (None = never)."""
    far = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    return max(
        rows,
        key=lambda row: (catalogue.tier(row.tier).rank, row.expires_at or far),
        default=None,
    )


async def refresh_guild(
    guild_id: int,
    catalogue: PremiumCatalogue,
    *,
    now: datetime.datetime,
    connection: BaseDBAsyncClient,
) -> GuildPremium:
    """Derive and store `guild_id`'s effective tier and grace period (in `connection`'s
    transaction; the state row is locked so concurrent refreshes take turns)."""
    await ensure_guild(guild_id, using_db=connection)
    await PremiumGuildState.get_or_create(
        guild_id=guild_id,
        defaults={"tier": catalogue.free.key, "paid_tier": catalogue.free.key},
        using_db=connection,
    )
    state = (
        await PremiumGuildState.filter(guild_id=guild_id)
        .select_for_update()
        .using_db(connection)
        .get()
    )
    rows = await PremiumSubscription.filter(active_subscriptions(now), guild_id=guild_id).using_db(
        connection
    )
    best = best_subscription(rows, catalogue)
    paid = catalogue.free if best is None else catalogue.tier(best.tier)
    before = catalogue.tier(state.tier)
    grace = catalogue.tier(state.grace_tier) if state.grace_tier else None
    if grace is not None and (
        paid.rank >= grace.rank or state.grace_until is None or state.grace_until <= now
    ):
        grace = None  # re-subscribed, or the grace period is over
    if grace is None and paid.rank < before.rank and state.grace_tier is None:
        days = catalogue.settings.grace_days
        if days > 0:
            grace = before
            state.grace_until = now + datetime.timedelta(days=days)
            state.grace_notice_due = True
            state.grace_noticed_at = None
    if grace is None:
        state.grace_tier = None
        state.grace_until = None
        state.grace_notice_due = False
    else:
        state.grace_tier = grace.key
    effective = paid if grace is None or grace.rank <= paid.rank else grace
    state.tier = effective.key
    state.paid_tier = paid.key
    state.paid_source = None if best is None else str(best.source)
    state.paid_until = None if best is None else best.expires_at
    await state.save(using_db=connection)
    return _view(state, catalogue)


def _view(state: PremiumGuildState, catalogue: PremiumCatalogue) -> GuildPremium:
    in_grace = state.grace_tier is not None
    return GuildPremium(
        guild_id=state.guild_id,
        tier=catalogue.tier(state.tier),
        paid_tier=catalogue.tier(state.paid_tier),
        source="grace" if in_grace else state.paid_source,
        ends_at=state.grace_until if in_grace else state.paid_until,
        grace_until=state.grace_until,
        notice_due=state.grace_notice_due,
    )


async def guild_premium(guild_id: int, catalogue: PremiumCatalogue) -> GuildPremium:
    """What the state row says now (the free tier for a guild that never had premium)."""
    state = await PremiumGuildState.filter(guild_id=guild_id).first()
    if state is None:
        free = catalogue.free
        return GuildPremium(guild_id, free, free, None, None, None, notice_due=False)
    return _view(state, catalogue)


async def guilds_to_refresh(now: datetime.datetime, catalogue: PremiumCatalogue) -> list[int]:
    """Guilds whose premium may have changed with time or without a refresh: a subscription
    that is active or ended since the state was written, a grace period, a notice due, a
    paid tier on record. The sweep refreshes them (the rest are free and stay so)."""
    recent = now - datetime.timedelta(days=catalogue.settings.grace_days + 1)
    subscribed = await PremiumSubscription.filter(
        active_subscriptions(now)
        | Q(expires_at__gt=recent, expires_at__lte=now)
        | Q(revoked_at__gt=recent)
    ).values_list("guild_id", flat=True)
    stateful = await PremiumGuildState.filter(
        ~Q(tier=catalogue.free.key)
        | ~Q(paid_tier=catalogue.free.key)
        | Q(grace_tier__isnull=False)
        | Q(grace_notice_due=True)
    ).values_list("guild_id", flat=True)
    return sorted({int(typing.cast("int", g)) for g in [*subscribed, *stateful]})


async def publish_tiers(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    catalogue: PremiumCatalogue,
    guilds: typing.Iterable[GuildPremium],
) -> None:
    """Copy the guilds' effective tiers into Redis for the gates."""
    for guild in guilds:
        await store_guild_tier(
            redis, keyspace, guild.guild_id, guild.tier.key, free=catalogue.free.key
        )


async def rebuild_tiers(
    redis: aioredis.Redis, keyspace: Keyspace, catalogue: PremiumCatalogue
) -> int:
    """Make Redis's `premium_tiers` hash exactly the state rows' non-free tiers (after a Redis
    flush, or a crash between PostgreSQL and Redis); returns the guilds on a paid tier."""
    rows = await PremiumGuildState.exclude(tier=catalogue.free.key).values_list("guild_id", "tier")
    wanted = {str(guild_id): str(tier) for guild_id, tier in rows}
    key = keyspace.key("premium_tiers")
    stored = {
        (k.decode() if isinstance(k, bytes) else str(k)): v
        for k, v in (await redis.hgetall(key)).items()
    }
    stale = [guild for guild in stored if guild not in wanted]
    async with redis.pipeline(transaction=True) as pipe:
        if stale:
            pipe.hdel(key, *stale)
        if wanted:
            pipe.hset(key, items=[item for pair in wanted.items() for item in pair])
        await pipe.execute()
    return len(wanted)


async def sync_guild(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    catalogue: PremiumCatalogue,
    guild_id: int,
    *,
    now: datetime.datetime | None = None,
) -> GuildPremium:
    """Refresh `guild_id`'s state and copy its tier into Redis (after a manual grant, say).

    A notice this makes due is sent by the next sweep (within a minute)."""
    async with in_transaction() as connection:
        premium = await refresh_guild(
            guild_id,
            catalogue,
            now=now or datetime.datetime.now(datetime.UTC),
            connection=connection,
        )
    await publish_tiers(redis, keyspace, catalogue, [premium])
    return premium


@dataclasses.dataclass(frozen=True, slots=True)
class GuildUsage:
    """A guild on a paid tier or in a grace period, and what it uses (the console's view)."""

    guild_id: int
    tier: str
    grace_until: datetime.datetime | None
    limits: list[tuple[str, int, int | None]]
    """(limit, usage, value on the tier) for each counted limit (counts, and what the
    current period used of a per-period one)."""


USAGE_SHOWN: typing.Final = 50
"""Most guilds whose usage the console reads per tick (paid or in grace, graces first)."""


async def guilds_usage(
    catalogue: PremiumCatalogue,
    now: datetime.datetime,
    *,
    redis: aioredis.Redis,
    keyspace: Keyspace,
) -> list[GuildUsage]:
    """Usage against limits of the guilds on a paid tier or in a grace period."""
    rows = (
        await PremiumGuildState.filter(~Q(tier=catalogue.free.key) | Q(grace_tier__isnull=False))
        .order_by("grace_until", "guild_id")
        .limit(USAGE_SHOWN)
    )
    shown = []
    for row in rows:
        tier = catalogue.tier(row.tier)
        usage = await guild_usage(row.guild_id, redis=redis, keyspace=keyspace)
        limits = []
        for name, used in usage.items():
            value = catalogue.value(tier, name)
            if not isinstance(value, bool):
                limits.append((name, used, value))
        grace = row.grace_until if row.grace_tier is not None else None
        shown.append(GuildUsage(row.guild_id, tier.key, grace, limits))
    return shown


USER_ENTITLEMENTS_SHOWN: typing.Final = 20


async def user_entitlements() -> list[PremiumEntitlement]:
    """The newest users' own entitlements (no guild): stored and shown, never applied."""
    return (
        await PremiumEntitlement.filter(guild_id__isnull=True)
        .order_by("-id")
        .limit(USER_ENTITLEMENTS_SHOWN)
    )
