"""Granting, extending and revoking premium by hand, and the overview, on real PostgreSQL."""

from __future__ import annotations

import datetime

import pytest

from townsquare.core.audit.models import ActorKind, AuditEntry
from townsquare.core.audit.service import Actor
from townsquare.core.guilds.models import Guild
from townsquare.features.premium.domain.models import (
    PremiumSource,
    PremiumSubscription,
    PremiumTier,
)
from townsquare.features.premium.domain.service import PremiumError, extend, grant, revoke, summary

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("orm")]

GUILD = 81_384_788_765_712_384
OPERATOR = Actor(ActorKind.OPERATOR, None, "alice")
NOW = datetime.datetime(2026, 5, 1, 12, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


async def _subscription(
    guild_id: int,
    tier: PremiumTier,
    *,
    starts: datetime.datetime = NOW - 30 * DAY,
    expires: datetime.datetime | None,
    source: PremiumSource = PremiumSource.MANUAL,
    revoked: datetime.datetime | None = None,
    entitlement_id: int | None = None,
) -> PremiumSubscription:
    await Guild.get_or_create(id=guild_id, defaults={"name": f"guild {guild_id}"})
    return await PremiumSubscription.create(
        guild_id=guild_id,
        tier=tier,
        source=source,
        starts_at=starts,
        expires_at=expires,
        revoked_at=revoked,
        entitlement_id=entitlement_id,
    )


async def test_a_grant_writes_the_subscription_and_its_audit_entry() -> None:
    created = await grant(GUILD, PremiumTier.PRO, 30, OPERATOR, now=NOW)
    row = await PremiumSubscription.get(id=created.id)
    assert (row.tier, row.source) == (PremiumTier.PRO, PremiumSource.MANUAL)
    assert (row.starts_at, row.expires_at, row.revoked_at) == (NOW, NOW + 30 * DAY, None)
    assert await Guild.exists(id=GUILD)  # created for a guild the bot has not seen yet
    [entry] = await AuditEntry.filter(action="premium.grant")
    assert entry.guild_id == GUILD  # type: ignore[attr-defined]
    assert (entry.actor_kind, entry.actor_name) == (ActorKind.OPERATOR, "alice")
    assert entry.target == "pro for 30 days"
    assert entry.before is None
    assert entry.after["expires_at"] == (NOW + 30 * DAY).isoformat()


async def test_a_grant_without_days_has_no_end_and_replaces_the_current_manual_grant() -> None:
    first = await grant(GUILD, PremiumTier.PLUS, 10, OPERATOR, now=NOW)
    entitlement = await _subscription(
        GUILD, PremiumTier.PLUS, expires=None, source=PremiumSource.ENTITLEMENT, entitlement_id=9
    )
    second = await grant(GUILD, PremiumTier.PRO, None, OPERATOR, now=NOW + DAY)
    assert second.expires_at is None
    assert (await PremiumSubscription.get(id=first.id)).revoked_at == NOW + DAY
    assert (await PremiumSubscription.get(id=entitlement.id)).revoked_at is None
    latest = await AuditEntry.filter(action="premium.grant").order_by("-id").first()
    assert latest is not None
    assert [row["id"] for row in latest.before] == [first.id]
    assert latest.target == "pro for ever"


@pytest.mark.parametrize("days", [0, -3, 40_000])
async def test_a_grant_with_bad_days_is_refused_and_writes_nothing(days: int) -> None:
    with pytest.raises(PremiumError, match="days must be between 1 and 36500"):
        await grant(GUILD, PremiumTier.PRO, days, OPERATOR, now=NOW)
    assert not await PremiumSubscription.exists()
    assert not await AuditEntry.exists()


async def test_extend_pushes_the_end_back_and_is_audited() -> None:
    await grant(GUILD, PremiumTier.PLUS, 5, OPERATOR, now=NOW)
    row = await extend(GUILD, 10, OPERATOR, now=NOW + DAY)
    assert row.expires_at == NOW + 15 * DAY
    [entry] = await AuditEntry.filter(action="premium.extend")
    assert entry.before["expires_at"] == (NOW + 5 * DAY).isoformat()
    assert entry.after["expires_at"] == (NOW + 15 * DAY).isoformat()


async def test_extend_needs_an_active_manual_grant_with_an_end() -> None:
    with pytest.raises(PremiumError, match="no active manual premium to extend"):
        await extend(GUILD, 10, OPERATOR, now=NOW)
    await _subscription(GUILD, PremiumTier.PLUS, expires=NOW - DAY)  # expired
    with pytest.raises(PremiumError, match="grant it instead"):
        await extend(GUILD, 10, OPERATOR, now=NOW)
    await grant(GUILD, PremiumTier.PRO, None, OPERATOR, now=NOW)
    with pytest.raises(PremiumError, match="has no end"):
        await extend(GUILD, 10, OPERATOR, now=NOW)
    assert not await AuditEntry.filter(action="premium.extend").exists()


async def test_revoke_ends_manual_grants_only_and_is_audited() -> None:
    manual = await grant(GUILD, PremiumTier.PRO, 30, OPERATOR, now=NOW)
    entitlement = await _subscription(
        GUILD, PremiumTier.PLUS, expires=None, source=PremiumSource.ENTITLEMENT, entitlement_id=7
    )
    [ended] = await revoke(GUILD, OPERATOR, now=NOW + DAY)
    assert ended.id == manual.id
    assert (await PremiumSubscription.get(id=manual.id)).revoked_at == NOW + DAY
    assert (await PremiumSubscription.get(id=entitlement.id)).revoked_at is None
    [entry] = await AuditEntry.filter(action="premium.revoke")
    assert entry.after[0]["revoked_at"] == (NOW + DAY).isoformat()
    with pytest.raises(PremiumError, match="no active manual premium to revoke"):
        await revoke(GUILD, OPERATOR, now=NOW + DAY)


async def test_the_summary_counts_each_guild_once_at_its_best_tier() -> None:
    await _subscription(1, PremiumTier.PLUS, expires=None)
    await _subscription(1, PremiumTier.PRO, expires=NOW + 3 * DAY)  # pro, but only for 3 days
    await _subscription(2, PremiumTier.PLUS, expires=NOW + 2 * DAY)
    await _subscription(3, PremiumTier.PRO, expires=NOW + 100 * DAY)
    await _subscription(4, PremiumTier.PLUS, expires=NOW - 2 * DAY)  # recently expired
    await _subscription(5, PremiumTier.PLUS, expires=NOW - 90 * DAY)  # long expired
    await _subscription(6, PremiumTier.PRO, expires=None, revoked=NOW - DAY)  # revoked
    await _subscription(7, PremiumTier.PRO, starts=NOW + DAY, expires=None)  # not started
    await _subscription(8, PremiumTier.PLUS, expires=NOW - DAY)  # expired, but renewed:
    await _subscription(8, PremiumTier.PLUS, expires=NOW + 60 * DAY)

    overview = await summary(NOW)
    assert overview.by_tier == {PremiumTier.PLUS: 2, PremiumTier.PRO: 2}
    assert [(g.guild_id, g.tier) for g in overview.active] == [
        (1, PremiumTier.PRO),
        (3, PremiumTier.PRO),
        (2, PremiumTier.PLUS),
        (8, PremiumTier.PLUS),
    ]
    # Guild 1's pro ends in 3 days, but its plus goes on: it is not expiring.
    assert [g.guild_id for g in overview.expiring] == [2]
    assert [g.guild_id for g in overview.expired] == [4]
    assert overview.active[0].guild_name == "guild 1"
