"""Granting, extending and revoking premium by hand, and the overview operators see.

A guild's tier is its best active subscription: started, not expired, not revoked (`pro`
beats `plus`). Operators manage `manual` subscriptions only; `entitlement` rows follow
Discord's entitlement events and are shown, never changed, here. Every change and its audit
entry (`premium.grant`, `premium.extend`, `premium.revoke`) commit in one transaction.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from townsquare.core.audit.service import record
from townsquare.core.guilds.models import Guild
from townsquare.core.guilds.service import ensure_guild
from townsquare.features.premium.domain.models import (
    PremiumSource,
    PremiumSubscription,
    PremiumTier,
)

if typing.TYPE_CHECKING:
    from tortoise.backends.base.client import BaseDBAsyncClient

    from townsquare.core.audit.service import Actor

__all__ = [
    "EXPIRING_WITHIN",
    "RECENTLY_EXPIRED_WITHIN",
    "TIER_RANK",
    "PremiumError",
    "PremiumGuild",
    "PremiumSummary",
    "extend",
    "grant",
    "revoke",
    "summary",
]

EXPIRING_WITHIN: typing.Final = datetime.timedelta(days=7)
RECENTLY_EXPIRED_WITHIN: typing.Final = datetime.timedelta(days=30)
"""How far back the overview lists expired subscriptions."""
TIER_RANK: typing.Final[dict[str, int]] = {PremiumTier.PLUS: 1, PremiumTier.PRO: 2}
_MAX_DAYS = 36_500


class PremiumError(ValueError):
    """A premium change that cannot be made; the message says why."""


@dataclasses.dataclass(frozen=True, slots=True)
class PremiumGuild:
    """One guild's best subscription in the overview."""

    guild_id: int
    guild_name: str
    tier: str
    source: PremiumSource
    starts_at: datetime.datetime
    expires_at: datetime.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class PremiumSummary:
    now: datetime.datetime
    by_tier: dict[str, int]
    """Guilds per tier (each guild counted once, at its best tier)."""
    active: list[PremiumGuild]
    """Every guild with an active subscription, best tier first, then soonest expiry."""
    expiring: list[PremiumGuild]
    """Active guilds whose premium ends within :data:`EXPIRING_WITHIN` (nothing active after)."""
    expired: list[PremiumGuild]
    """Guilds whose last subscription expired within :data:`RECENTLY_EXPIRED_WITHIN`, with no
    active one now; newest first."""


def _now(now: datetime.datetime | None) -> datetime.datetime:
    return now or datetime.datetime.now(datetime.UTC)


def _check_days(days: int | None) -> None:
    if days is not None and not 1 <= days <= _MAX_DAYS:
        raise PremiumError(f"days must be between 1 and {_MAX_DAYS}, got {days}")


def _active(now: datetime.datetime) -> Q:
    return Q(starts_at__lte=now, revoked_at__isnull=True) & (
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


def _describe(row: PremiumSubscription) -> dict[str, typing.Any]:
    return {
        "id": row.id,
        "tier": str(row.tier),
        "source": str(row.source),
        "starts_at": row.starts_at.isoformat(),
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }


async def _active_manual(
    guild_id: int, now: datetime.datetime, connection: BaseDBAsyncClient
) -> list[PremiumSubscription]:
    return (
        await PremiumSubscription.filter(
            _active(now), guild_id=guild_id, source=PremiumSource.MANUAL
        )
        .select_for_update()
        .order_by("starts_at")
        .using_db(connection)
    )


async def grant(
    guild_id: int,
    tier: PremiumTier,
    days: int | None,
    actor: Actor,
    *,
    now: datetime.datetime | None = None,
) -> PremiumSubscription:
    """Give `guild_id` `tier` from now for `days` (None: no end).

    Replaces the guild's active manual subscription, if any (it is ended now), so a grant
    both starts and changes premium. The guild row is created if the bot has not seen it yet.
    """
    _check_days(days)
    tier = PremiumTier(tier)
    now = _now(now)
    async with in_transaction() as connection:
        await ensure_guild(guild_id, using_db=connection)
        replaced = await _active_manual(guild_id, now, connection)
        for row in replaced:
            row.revoked_at = now
            await row.save(using_db=connection, update_fields=["revoked_at"])
        created = await PremiumSubscription.create(
            guild_id=guild_id,
            tier=tier,
            source=PremiumSource.MANUAL,
            starts_at=now,
            expires_at=None if days is None else now + datetime.timedelta(days=days),
            using_db=connection,
        )
        await record(
            "premium.grant",
            actor,
            guild_id=guild_id,
            target=f"{tier} for {'ever' if days is None else f'{days} days'}",
            before=[_describe(row) for row in replaced] or None,
            after=_describe(created),
            using_db=connection,
        )
    return created


async def extend(
    guild_id: int,
    days: int,
    actor: Actor,
    *,
    now: datetime.datetime | None = None,
) -> PremiumSubscription:
    """Push the end of `guild_id`'s active manual subscription back by `days`.

    Raises :class:`PremiumError` when the guild has no active manual subscription (grant one
    instead) or when it has no end.
    """
    _check_days(days)
    now = _now(now)
    async with in_transaction() as connection:
        rows = await _active_manual(guild_id, now, connection)
        if not rows:
            raise PremiumError(
                f"guild {guild_id} has no active manual premium to extend; grant it instead"
            )
        row = rows[-1]
        if row.expires_at is None:
            raise PremiumError(f"guild {guild_id}'s {row.tier} premium has no end to extend")
        before = _describe(row)
        row.expires_at = row.expires_at + datetime.timedelta(days=days)
        await row.save(using_db=connection, update_fields=["expires_at"])
        await record(
            "premium.extend",
            actor,
            guild_id=guild_id,
            target=f"{row.tier} by {days} days",
            before=before,
            after=_describe(row),
            using_db=connection,
        )
    return row


async def revoke(
    guild_id: int,
    actor: Actor,
    *,
    now: datetime.datetime | None = None,
) -> list[PremiumSubscription]:
    """End every active manual subscription of `guild_id` now; returns the rows ended.

    Raises :class:`PremiumError` when there is none (entitlements are Discord's to end).
    """
    now = _now(now)
    async with in_transaction() as connection:
        rows = await _active_manual(guild_id, now, connection)
        if not rows:
            raise PremiumError(f"guild {guild_id} has no active manual premium to revoke")
        before = [_describe(row) for row in rows]
        for row in rows:
            row.revoked_at = now
            await row.save(using_db=connection, update_fields=["revoked_at"])
        await record(
            "premium.revoke",
            actor,
            guild_id=guild_id,
            target=", ".join(str(row.tier) for row in rows),
            before=before,
            after=[_describe(row) for row in rows],
            using_db=connection,
        )
    return rows


def _best(rows: list[PremiumSubscription]) -> PremiumSubscription:
    """The row that decides the guild's tier: best tier, then the latest end (None = never)."""
    far = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    return max(rows, key=lambda row: (TIER_RANK[row.tier], row.expires_at or far))


async def summary(now: datetime.datetime | None = None) -> PremiumSummary:
    """The overview: guilds by tier, expiring soon, recently expired."""
    now = _now(now)
    active_rows = await PremiumSubscription.filter(_active(now))
    expired_rows = await PremiumSubscription.filter(
        revoked_at__isnull=True,
        expires_at__lte=now,
        expires_at__gt=now - RECENTLY_EXPIRED_WITHIN,
    )
    guild_ids = {row.guild_id for row in active_rows} | {row.guild_id for row in expired_rows}  # type: ignore[attr-defined]
    names = (
        {guild.id: guild.name for guild in await Guild.filter(id__in=guild_ids)}
        if guild_ids
        else {}
    )

    def entry(row: PremiumSubscription) -> PremiumGuild:
        guild_id: int = row.guild_id  # type: ignore[attr-defined]
        return PremiumGuild(
            guild_id, names.get(guild_id, ""), row.tier, row.source, row.starts_at, row.expires_at
        )

    by_guild: dict[int, list[PremiumSubscription]] = {}
    for row in active_rows:
        by_guild.setdefault(row.guild_id, []).append(row)  # type: ignore[attr-defined]
    far = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    active = sorted(
        (entry(_best(rows)) for rows in by_guild.values()),
        key=lambda guild: (-TIER_RANK[guild.tier], guild.expires_at or far, guild.guild_id),
    )
    # A guild is expiring only if none of its active rows lasts past the window.
    expiring = [
        guild
        for guild in active
        if all(
            row.expires_at is not None and row.expires_at <= now + EXPIRING_WITHIN
            for row in by_guild[guild.guild_id]
        )
    ]
    latest_expired: dict[int, PremiumSubscription] = {}
    for row in expired_rows:
        guild_id: int = row.guild_id  # type: ignore[attr-defined]
        if guild_id in by_guild:
            continue
        current = latest_expired.get(guild_id)
        if current is None or (row.expires_at or now) > (current.expires_at or now):
            latest_expired[guild_id] = row
    expired = sorted(
        (entry(row) for row in latest_expired.values()),
        key=lambda guild: guild.expires_at or now,
        reverse=True,
    )
    by_tier: dict[str, int] = dict.fromkeys(PremiumTier, 0)
    for guild in active:
        by_tier[guild.tier] = by_tier.get(guild.tier, 0) + 1
    return PremiumSummary(now, by_tier, active, expiring, expired)
