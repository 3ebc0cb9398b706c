"""A guild's effective tier over time on real PostgreSQL and Redis: best subscription wins
whatever its source, a grace period after the end, re-subscribing ends it, the sweep expires
grants and grace periods and is idempotent, and Redis is rebuilt from PostgreSQL."""

from __future__ import annotations

import datetime
import typing

import pytest
from tortoise.transactions import in_transaction

from townsquare.core.audit.models import AuditEntry
from townsquare.core.audit.service import Actor
from townsquare.core.premium import PremiumCatalogue
from townsquare.core.settings import load_settings
from townsquare.features.premium.domain.entitlements import (
    EntitlementFacts,
    apply_entitlements,
    reconcile,
)
from townsquare.features.premium.domain.models import PremiumSubscription
from townsquare.features.premium.domain.service import grant
from townsquare.features.premium.domain.status import (
    guilds_to_refresh,
    rebuild_tiers,
    refresh_guild,
    sync_guild,
)

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.features.premium.domain.status import GuildPremium

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("orm")]

GUILD = 81_384_788_765_712_384
SKU_PLUS, SKU_PRO = 1_300_000_000_000_000_001, 1_300_000_000_000_000_002
NOW = datetime.datetime(2026, 5, 1, 12, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


@pytest.fixture
def catalogue() -> PremiumCatalogue:
    skus = f'{{"{SKU_PLUS}": "plus", "{SKU_PRO}": "pro"}}'
    settings = load_settings(env_file=None, environ={"TOWNSQUARE__PREMIUM__SKUS": skus})
    return PremiumCatalogue(settings.premium)


async def _at(now: datetime.datetime, catalogue: PremiumCatalogue) -> GuildPremium:
    async with in_transaction() as connection:
        return await refresh_guild(GUILD, catalogue, now=now, connection=connection)


def _entitlement(
    entitlement_id: int, sku: int, *, ends: datetime.datetime | None, deleted: bool = False
) -> EntitlementFacts:
    return EntitlementFacts(entitlement_id, sku, GUILD, 42, 8, deleted, False, NOW, ends)


async def test_best_subscription_grace_and_resubscribing(catalogue: PremiumCatalogue) -> None:
    # A manual Plus grant and a Pro subscription: Pro wins, from Discord.
    await grant(GUILD, "plus", 60, Actor.system(), now=NOW)
    [state] = await apply_entitlements(
        [_entitlement(7, SKU_PRO, ends=NOW + 10 * DAY)], catalogue, now=NOW
    )
    assert (state.tier.key, state.source, state.ends_at) == ("pro", "entitlement", NOW + 10 * DAY)

    # The subscription runs out: Plus is paid for, Pro stays three days (grace), notice due.
    ended = await _at(NOW + 10 * DAY + datetime.timedelta(minutes=1), catalogue)
    assert (ended.tier.key, ended.paid_tier.key, ended.source) == ("pro", "plus", "grace")
    assert ended.notice_due
    assert ended.grace_until == NOW + 13 * DAY + datetime.timedelta(minutes=1)
    # Refreshing again during the grace period changes nothing (idempotent).
    again = await _at(NOW + 11 * DAY, catalogue)
    assert (again.tier.key, again.grace_until) == ("pro", ended.grace_until)

    # Re-subscribing to Pro during the grace period ends it at once.
    await apply_entitlements([_entitlement(8, SKU_PRO, ends=None)], catalogue, now=NOW + 12 * DAY)
    back = await _at(NOW + 12 * DAY, catalogue)
    assert (back.tier.key, back.source, back.grace_until, back.notice_due) == (
        "pro",
        "entitlement",
        None,
        False,
    )

    # Refunded (deleted): grace again; after it, the manual Plus is what is left.
    await apply_entitlements(
        [_entitlement(8, SKU_PRO, ends=None, deleted=True)], catalogue, now=NOW + 20 * DAY
    )
    after = await _at(NOW + 24 * DAY, catalogue)
    assert (after.tier.key, after.source, after.grace_until) == ("plus", "manual", None)


async def test_the_sweep_finds_what_time_changes_and_redis_follows(
    catalogue: PremiumCatalogue, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    await grant(GUILD, "pro", 2, Actor.system(), now=NOW)
    await sync_guild(redis, keyspace, catalogue, GUILD, now=NOW)
    key = keyspace.key("premium_tiers")
    assert await redis.hget(key, str(GUILD)) == b"pro"
    assert await guilds_to_refresh(NOW, catalogue) == [GUILD]
    # Expired two days later: grace until day 5, then free, then nothing left to sweep.
    assert (
        await sync_guild(redis, keyspace, catalogue, GUILD, now=NOW + 2 * DAY)
    ).tier.key == "pro"
    free = await sync_guild(redis, keyspace, catalogue, GUILD, now=NOW + 6 * DAY)
    assert free.tier.key == "free"
    assert not await redis.hexists(key, str(GUILD))
    assert await guilds_to_refresh(NOW + 30 * DAY, catalogue) == []
    # Redis lost its copy (flushed) or holds a stale one: rebuilt from PostgreSQL.
    await grant(GUILD, "plus", None, Actor.system(), now=NOW + 30 * DAY)
    await _at(NOW + 30 * DAY, catalogue)
    await redis.hset(key, "123", "pro")
    assert await rebuild_tiers(redis, keyspace, catalogue) == 1
    assert await redis.hgetall(key) == {str(GUILD).encode(): b"plus"}


async def test_reconciling_ends_what_discord_no_longer_lists_in_its_scope(
    catalogue: PremiumCatalogue,
) -> None:
    other = GUILD + 1
    mine = _entitlement(11, SKU_PLUS, ends=None)
    theirs = EntitlementFacts(12, SKU_PRO, other, 43, 8, False, False, NOW, None)
    await apply_entitlements([mine, theirs], catalogue, now=NOW)
    # One guild's listing is empty: only its subscription ends (now), with an audit entry.
    [changed] = await reconcile([], catalogue, guild_id=GUILD, now=NOW + DAY)
    assert (changed.guild_id, changed.paid_tier.key, changed.source) == (GUILD, "free", "grace")
    assert (await PremiumSubscription.get(entitlement_id=11)).revoked_at == NOW + DAY
    assert (await PremiumSubscription.get(entitlement_id=12)).revoked_at is None
    ended = await AuditEntry.filter(action="premium.entitlement", target__contains="reconciled")
    assert [entry.guild_id for entry in ended] == [GUILD]  # type: ignore[attr-defined]
    # A full listing that still has the other guild's changes nothing for it.
    assert await reconcile([theirs], catalogue, now=NOW + DAY) == [
        await _state_of(other, catalogue, NOW + DAY)
    ]


async def _state_of(
    guild_id: int, catalogue: PremiumCatalogue, now: datetime.datetime
) -> GuildPremium:
    async with in_transaction() as connection:
        return await refresh_guild(guild_id, catalogue, now=now, connection=connection)
