"""Premium tasks: entitlement events, reconciliation with Discord, the sweep (docs/premium.md).

- `premium.records` (`jobs`): a batch of the shards' entitlement records (applied at once, so
  a purchase lifts the limits within a second) and guild records (each guild a shard receives
  at start-up or on joining has its entitlements reconciled, so what changed while the shards
  were down is applied);
- `premium.sweep` (`jobs`, every minute): subscriptions that expired, grace periods that
  ended, notices still due, and every `premium.reconcile_interval_seconds` a reconciliation
  of all entitlements and a rebuild of Redis's tier hash.

Everything is idempotent: the state is derived from PostgreSQL each time, Redis is a copy,
and the grace notice is sent under a "done" marker, so a task killed at any instant and run
again changes nothing twice.
"""

from __future__ import annotations

import datetime
import typing

import hikari
import structlog
from taskiq import TaskiqDepends
from tortoise.transactions import in_transaction

from townsquare.core.discord import DiscordTargetError, resolve_discord_target
from townsquare.core.events import EntitlementRecord, GuildRecord, parse_records
from townsquare.core.premium import PremiumCatalogue
from townsquare.features.premium.domain.entitlements import (
    EntitlementFacts,
    apply_entitlements,
    reconcile,
)
from townsquare.features.premium.domain.jobs import RECORDS_TASK, SWEEP_TASK
from townsquare.features.premium.domain.models import PremiumGuildState
from townsquare.features.premium.domain.notices import grace_notice
from townsquare.features.premium.domain.status import (
    guilds_to_refresh,
    publish_tiers,
    rebuild_tiers,
    refresh_guild,
)
from townsquare.tasks.errors import PermanentJobError
from townsquare.tasks.idempotency import run_once
from townsquare.tasks.registry import REGISTRY

# Needed at run time: taskiq resolves the annotation to inject the worker's resources.
from townsquare.tasks.resources import TaskResources

if typing.TYPE_CHECKING:
    from townsquare.core.discord import DiscordTarget
    from townsquare.features.premium.domain.status import GuildPremium

__all__ = ["catalogue_of", "process_records", "reconcile_with_discord", "sweep"]

_Resources = typing.Annotated[TaskResources, TaskiqDepends()]

logger = structlog.get_logger(__name__)

PAGE: typing.Final = 100
"""Entitlements per page of `GET /applications/{id}/entitlements` (Discord's most)."""
FULL_AFTER_GUILDS: typing.Final = 10
"""A batch with more guild records than this (a shard starting) reconciles every entitlement
in one paged listing instead of one listing per guild."""
STARTUP_RECONCILE_SECONDS: typing.Final = 10
"""A shard start delivers its guilds in several batches within seconds: the first batch's
full reconciliation covers the others."""


def _target(resources: TaskResources) -> DiscordTarget | None:
    try:
        return resources.discord or resolve_discord_target(resources.settings)
    except DiscordTargetError:
        return None


def catalogue_of(resources: TaskResources) -> PremiumCatalogue:
    """The tiers and SKUs, with the sandbox's SKU when Discord is the sandbox."""
    target = _target(resources)
    sandbox_sku = target.sku_id if target is not None and target.is_sandbox else None
    return PremiumCatalogue(resources.settings.premium, sandbox_sku=sandbox_sku)


def _moment(ms: int | None) -> datetime.datetime | None:
    return None if ms is None else datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)


def _from_record(record: EntitlementRecord) -> EntitlementFacts:
    return EntitlementFacts(
        id=record.entitlement_id,
        sku_id=record.sku_id,
        guild_id=record.guild_id,
        user_id=record.user_id,
        type=record.type,
        deleted=record.deleted,
        consumed=record.consumed,
        starts_at=_moment(record.starts_at_ms),
        ends_at=_moment(record.ends_at_ms),
    )


def _from_discord(entitlement: hikari.Entitlement) -> EntitlementFacts:
    return EntitlementFacts(
        id=int(entitlement.id),
        sku_id=int(entitlement.sku_id),
        guild_id=None if entitlement.guild_id is None else int(entitlement.guild_id),
        user_id=None if entitlement.user_id is None else int(entitlement.user_id),
        type=int(entitlement.type),
        deleted=entitlement.is_deleted,
        consumed=entitlement.is_consumed,
        starts_at=entitlement.starts_at,
        ends_at=entitlement.ends_at,
    )


@REGISTRY.task("jobs", RECORDS_TASK)
async def process_records(records: list[dict[str, typing.Any]], resources: _Resources) -> int:
    """Apply entitlement records; reconcile the guilds of guild records. Returns the guilds
    whose premium was refreshed."""
    try:
        parsed = parse_records(records)
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        raise PermanentJobError(f"unreadable premium batch: {error}") from error
    catalogue = catalogue_of(resources)
    facts = [_from_record(r) for r in parsed if isinstance(r, EntitlementRecord)]
    changed = await apply_entitlements(facts, catalogue) if facts else []
    await _publish(resources, catalogue, changed)
    seen = sorted({r.guild_id for r in parsed if isinstance(r, GuildRecord)})
    reconciled: list[GuildPremium] = []
    if len(seen) > FULL_AFTER_GUILDS:
        if await _claim(resources, "startup", STARTUP_RECONCILE_SECONDS):
            reconciled = await reconcile_with_discord(resources, catalogue)
    else:
        for guild_id in seen:
            reconciled += await reconcile_with_discord(resources, catalogue, guild_id=guild_id)
    return len(changed) + len(reconciled)


async def _claim(resources: TaskResources, scope: str, seconds: float) -> bool:
    key = resources.keyspace.key("premium_reconciled", scope)
    return bool(await resources.redis.set(key, "1", nx=True, ex=max(1, round(seconds))))


async def reconcile_with_discord(
    resources: TaskResources,
    catalogue: PremiumCatalogue,
    *,
    guild_id: int | None = None,
    now: datetime.datetime | None = None,
) -> list[GuildPremium]:
    """Page through Discord's entitlements that have not ended (one guild's, or all) and make
    the stored ones agree; returns the guilds refreshed."""
    target = _target(resources)
    if target is None:
        logger.warning("premium.reconcile_no_discord")
        return []
    rest = await resources.discord_rest()
    listing: list[EntitlementFacts] = []
    after = 0
    while True:
        page = await rest.fetch_entitlements(
            target.application_id,
            guild=hikari.UNDEFINED if guild_id is None else guild_id,
            after=after,
            limit=PAGE,
            exclude_ended=True,
        )
        listing += [_from_discord(entitlement) for entitlement in page]
        if len(page) < PAGE:
            break
        after = max(int(entitlement.id) for entitlement in page)
    changed = await reconcile(listing, catalogue, guild_id=guild_id, now=now)
    await _publish(resources, catalogue, changed, now=now)
    logger.info("premium.reconciled", guild_id=guild_id, listed=len(listing), changed=len(changed))
    return changed


@REGISTRY.task("jobs", SWEEP_TASK)
async def sweep(resources: _Resources, now_ms: int | None = None) -> int:
    """Refresh every guild whose premium may have changed with time; send notices due; every
    reconcile interval, reconcile all entitlements and rebuild Redis's tier hash. `now_ms`
    (tests, simulated time) replaces the clock. Returns the guilds refreshed."""
    now = _moment(now_ms) or datetime.datetime.now(datetime.UTC)
    catalogue = catalogue_of(resources)
    refreshed: list[GuildPremium] = []
    for guild_id in await guilds_to_refresh(now, catalogue):
        async with in_transaction() as connection:
            refreshed.append(
                await refresh_guild(guild_id, catalogue, now=now, connection=connection)
            )
    await _publish(resources, catalogue, refreshed, now=now)
    interval = catalogue.settings.reconcile_interval_seconds
    if await _claim(resources, "all", interval):
        await reconcile_with_discord(resources, catalogue, now=now)
        await rebuild_tiers(resources.redis, resources.keyspace, catalogue)
    return len(refreshed)


async def _publish(
    resources: TaskResources,
    catalogue: PremiumCatalogue,
    guilds: list[GuildPremium],
    *,
    now: datetime.datetime | None = None,
) -> None:
    """Tiers into Redis for the gates, then the grace notices due."""
    await publish_tiers(resources.redis, resources.keyspace, catalogue, guilds)
    for guild in guilds:
        resources.gate.invalidate(guild.guild_id)
        if guild.notice_due:
            await _grace_notice(
                resources, catalogue, guild, now or datetime.datetime.now(datetime.UTC)
            )


async def _grace_notice(
    resources: TaskResources,
    catalogue: PremiumCatalogue,
    guild: GuildPremium,
    now: datetime.datetime,
) -> None:
    """Tell the owner (DM) and the log channel, once per grace period."""
    assert guild.grace_until is not None
    rest = await resources.discord_rest()

    async def send() -> None:
        try:
            found = await rest.fetch_guild(guild.guild_id)
        except (hikari.ForbiddenError, hikari.NotFoundError):
            logger.info("premium.notice_guild_gone", guild_id=guild.guild_id)
            return
        text = grace_notice(guild, found.name, catalogue, resources.settings.http.public_url)
        try:
            channel = await rest.create_dm_channel(found.owner_id)
            await rest.create_message(channel, text, user_mentions=False, role_mentions=False)
        except (hikari.ForbiddenError, hikari.NotFoundError, hikari.BadRequestError):
            logger.info("premium.notice_dm_unavailable", guild_id=guild.guild_id)
        config = await resources.guild_config(guild.guild_id)
        log_channel = getattr(getattr(config, "moderation", None), "log_channel_id", None)
        if log_channel:
            try:
                await rest.create_message(
                    log_channel, text, user_mentions=False, role_mentions=False
                )
            except (hikari.ForbiddenError, hikari.NotFoundError, hikari.BadRequestError):
                logger.info("premium.notice_log_unavailable", guild_id=guild.guild_id)

    grace_ms = int(guild.grace_until.timestamp() * 1000)
    event = f"{guild.guild_id}/{grace_ms}"
    await run_once(resources.redis, resources.keyspace, "premium_grace_notice", event, send)
    await PremiumGuildState.filter(
        guild_id=guild.guild_id, grace_notice_due=True, grace_until=guild.grace_until
    ).update(grace_notice_due=False, grace_noticed_at=now)
