"""Premium subscriptions: who granted what to which guild, and for how long."""

from __future__ import annotations

import enum
import typing

from tortoise import fields
from tortoise.models import Model

if typing.TYPE_CHECKING:
    from townsquare.core.guilds.models import Guild

__all__ = [
    "PremiumEntitlement",
    "PremiumGuildState",
    "PremiumSource",
    "PremiumSubscription",
    "PremiumTier",
]


class PremiumTier(enum.StrEnum):
    PLUS = "plus"
    PRO = "pro"


class PremiumSource(enum.StrEnum):
    MANUAL = "manual"
    """Granted by an operator from the console or CLI."""
    ENTITLEMENT = "entitlement"
    """A Discord SKU entitlement (ENTITLEMENT_CREATE/UPDATE/DELETE)."""


class PremiumSubscription(Model):
    """A period during which a guild has a tier. A guild's tier is its best active row."""

    id = fields.BigIntField(primary_key=True)
    guild: fields.ForeignKeyRelation[Guild] = fields.ForeignKeyField(
        "townsquare.Guild", related_name="premium_subscriptions", on_delete=fields.CASCADE
    )
    tier = fields.CharField(max_length=16)
    """A tier key of the settings (`premium.tiers`): `plus`, `pro`, ..."""
    source = fields.CharEnumField(PremiumSource, max_length=16)
    entitlement_id = fields.BigIntField(null=True, unique=True)
    """Discord's entitlement id when `source` is `entitlement`."""
    starts_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(null=True)
    """None means no end (e.g. a lifetime grant or an entitlement still renewing)."""
    revoked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "premium_subscriptions"
        indexes = (("guild_id", "expires_at"),)


class PremiumEntitlement(Model):
    """A Discord entitlement as last seen (gateway events and reconciliation), guild's or user's.

    A guild's entitlement to a mapped SKU also has a :class:`PremiumSubscription` (its period);
    a user's own entitlement (no guild) is kept and shown, never applied to a guild.
    """

    id = fields.BigIntField(primary_key=True, generated=False)
    """Discord's entitlement id."""
    sku_id = fields.BigIntField()
    guild_id = fields.BigIntField(null=True)
    """The guild it is for; None for a user's own entitlement."""
    user_id = fields.BigIntField(null=True)
    """Who bought it."""
    type = fields.SmallIntField()
    """Discord's entitlement type (8: application subscription, 1: one-time purchase)."""
    starts_at = fields.DatetimeField(null=True)
    ends_at = fields.DatetimeField(null=True)
    """None: no end (renewing, or a test entitlement)."""
    deleted = fields.BooleanField(default=False)
    consumed = fields.BooleanField(default=False)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "premium_entitlements"
        indexes = (("guild_id",), ("user_id",))


class PremiumGuildState(Model):
    """A guild's effective tier, and its grace period after a subscription ended.

    Derived from the subscriptions (`domain.status.refresh_guild`); the Redis hash
    `premium_tiers` is its copy for the gates.
    """

    guild_id = fields.BigIntField(primary_key=True, generated=False)
    """The guild (its `guilds` row exists: the state is written after `ensure_guild`)."""
    tier = fields.CharField(max_length=16)
    """The effective tier: the best of the paid tier and the grace tier."""
    paid_tier = fields.CharField(max_length=16)
    """The tier of the best active subscription (the free tier when none)."""
    paid_source = fields.CharField(max_length=16, null=True)
    """`manual` or `entitlement`: where the best active subscription comes from."""
    paid_until = fields.DatetimeField(null=True)
    """When the best active subscription ends; None: no end (or none active)."""
    grace_tier = fields.CharField(max_length=16, null=True)
    """The tier kept during a grace period, after the subscription giving it ended."""
    grace_until = fields.DatetimeField(null=True)
    grace_notice_due = fields.BooleanField(default=False)
    """The owner and the log channel are still to be told that the grace period started."""
    grace_noticed_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "premium_guild_states"
