"""Discord entitlements -> subscriptions: from gateway events and from reconciliation.

Every entitlement seen is kept (`premium_entitlements`). A guild's entitlement to an SKU the
settings map to a tier (`premium.skus`, or the sandbox's SKU) is a subscription of source
`entitlement` with the entitlement's period: `ends_at` None is open-ended, a past `ends_at`
ends it, and `deleted` (a refund, a deleted test entitlement) revokes it. A user's own
entitlement (no guild) is stored and shown, never applied to a guild. Each change of a
subscription and its audit entry commit together with the guild's refreshed state.

Reconciliation compares a listing from `GET /applications/{id}/entitlements` (every page,
`exclude_ended=true`, one guild's or all) with what is stored: listed entitlements are
applied, and a stored active one missing from the listing has ended while nobody was
listening, so it is ended now.
"""

from __future__ import annotations

import dataclasses
import datetime
import typing

import structlog
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from townsquare.core.audit.service import Actor, record
from townsquare.core.guilds.service import ensure_guild
from townsquare.features.premium.domain.models import (
    PremiumEntitlement,
    PremiumSource,
    PremiumSubscription,
)
from townsquare.features.premium.domain.status import active_subscriptions, refresh_guild

if typing.TYPE_CHECKING:
    from tortoise.backends.base.client import BaseDBAsyncClient

    from townsquare.core.premium import PremiumCatalogue
    from townsquare.features.premium.domain.status import GuildPremium

__all__ = ["ENTITLEMENT_ACTOR", "EntitlementFacts", "apply_entitlements", "reconcile"]

ENTITLEMENT_ACTOR: typing.Final = Actor.system("discord entitlements")
"""Who the audit log says changed a subscription that follows an entitlement."""

_log = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class EntitlementFacts:
    """One entitlement as Discord describes it (an event's payload or a listing's item)."""

    id: int
    sku_id: int
    guild_id: int | None
    user_id: int | None
    type: int
    deleted: bool
    consumed: bool
    starts_at: datetime.datetime | None
    ends_at: datetime.datetime | None


def _describe(row: PremiumSubscription) -> dict[str, typing.Any]:
    return {
        "tier": row.tier,
        "entitlement_id": row.entitlement_id,
        "starts_at": row.starts_at.isoformat(),
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }


async def _store(facts: EntitlementFacts, connection: BaseDBAsyncClient) -> bool:
    """Keep `facts`; returns whether the entitlement counts as deleted (deletion is final)."""
    existing = (
        await PremiumEntitlement.filter(id=facts.id)
        .select_for_update()
        .using_db(connection)
        .first()
    )
    deleted = facts.deleted or (existing is not None and existing.deleted)
    values = {
        "sku_id": facts.sku_id,
        "guild_id": facts.guild_id,
        "user_id": facts.user_id,
        "type": facts.type,
        "starts_at": facts.starts_at,
        "ends_at": facts.ends_at,
        "deleted": deleted,
        "consumed": facts.consumed,
    }
    if existing is None:
        await PremiumEntitlement.create(id=facts.id, using_db=connection, **values)
    else:
        existing.update_from_dict(values)
        await existing.save(using_db=connection)
    return deleted


async def _apply_one(
    facts: EntitlementFacts,
    catalogue: PremiumCatalogue,
    now: datetime.datetime,
    connection: BaseDBAsyncClient,
) -> int | None:
    """Store one entitlement and follow it with its subscription; the guild it changed."""
    deleted = await _store(facts, connection)
    if facts.guild_id is None:
        return None  # a user's own: stored and shown, not applied to any guild
    tier = catalogue.skus.get(facts.sku_id)
    row = (
        await PremiumSubscription.filter(entitlement_id=facts.id)
        .select_for_update()
        .using_db(connection)
        .first()
    )
    if tier is None and row is None:
        _log.warning("premium_unknown_sku", sku_id=facts.sku_id, entitlement_id=facts.id)
        return None
    await ensure_guild(facts.guild_id, using_db=connection)
    revoked_at = (row.revoked_at if row else None) or (now if deleted or tier is None else None)
    wanted = {
        "tier": tier.key if tier is not None else (row.tier if row else ""),
        "starts_at": facts.starts_at or (row.starts_at if row else now),
        "expires_at": facts.ends_at,
        "revoked_at": revoked_at,
    }
    before = None if row is None else _describe(row)
    if row is None:
        row = await PremiumSubscription.create(
            guild_id=facts.guild_id,
            source=PremiumSource.ENTITLEMENT,
            entitlement_id=facts.id,
            using_db=connection,
            **wanted,
        )
    else:
        row.update_from_dict(wanted)
        await row.save(using_db=connection)
    after = _describe(row)
    if before != after:
        await record(
            "premium.entitlement",
            ENTITLEMENT_ACTOR,
            guild_id=facts.guild_id,
            target=f"{row.tier} from entitlement {facts.id} (SKU {facts.sku_id})",
            before=before,
            after=after,
            using_db=connection,
        )
    return facts.guild_id


async def apply_entitlements(
    entitlements: typing.Sequence[EntitlementFacts],
    catalogue: PremiumCatalogue,
    *,
    now: datetime.datetime | None = None,
) -> list[GuildPremium]:
    """Apply `entitlements` in one transaction; the refreshed state of each guild touched."""
    now = now or datetime.datetime.now(datetime.UTC)
    async with in_transaction() as connection:
        guilds = {
            guild_id
            for facts in entitlements
            if (guild_id := await _apply_one(facts, catalogue, now, connection)) is not None
        }
        return [
            await refresh_guild(guild_id, catalogue, now=now, connection=connection)
            for guild_id in sorted(guilds)
        ]


async def reconcile(
    listing: typing.Sequence[EntitlementFacts],
    catalogue: PremiumCatalogue,
    *,
    guild_id: int | None = None,
    now: datetime.datetime | None = None,
) -> list[GuildPremium]:
    """Make the stored entitlements agree with Discord's `listing` of the entitlements that
    have not ended (of `guild_id`, or of every guild when None)."""
    now = now or datetime.datetime.now(datetime.UTC)
    listed = {facts.id for facts in listing}
    changed = await apply_entitlements(listing, catalogue, now=now)
    scope = PremiumSubscription.filter(
        active_subscriptions(now), source=PremiumSource.ENTITLEMENT, entitlement_id__isnull=False
    )
    if guild_id is not None:
        scope = scope.filter(guild_id=guild_id)
    missing = [row for row in await scope if row.entitlement_id not in listed]
    if not missing:
        return changed
    async with in_transaction() as connection:
        guilds: set[int] = set()
        for row in missing:
            before = _describe(row)
            row.revoked_at = now
            await row.save(using_db=connection, update_fields=["revoked_at"])
            await (
                PremiumEntitlement.filter(id=row.entitlement_id)
                .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
                .using_db(connection)
                .update(ends_at=now)
            )
            row_guild: int = row.guild_id  # type: ignore[attr-defined]
            guilds.add(row_guild)
            await record(
                "premium.entitlement",
                ENTITLEMENT_ACTOR,
                guild_id=row_guild,
                target=f"{row.tier} from entitlement {row.entitlement_id}: ended (reconciled)",
                before=before,
                after=_describe(row),
                using_db=connection,
            )
        refreshed = [
            await refresh_guild(guild, catalogue, now=now, connection=connection)
            for guild in sorted(guilds)
        ]
    return [*changed, *refreshed]
