"""Premium subscriptions: who granted what to which guild, and for how long."""

from __future__ import annotations

import enum
import typing

from tortoise import fields
from tortoise.models import Model

if typing.TYPE_CHECKING:
    from townsquare.core.guilds.models import Guild

__all__ = ["PremiumSource", "PremiumSubscription", "PremiumTier"]


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
    tier = fields.CharEnumField(PremiumTier, max_length=16)
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
