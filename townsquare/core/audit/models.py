"""One audit table for every change: configuration, premium grants, moderation, operator actions."""

from __future__ import annotations

import enum
import typing

from tortoise import fields
from tortoise.models import Model

if typing.TYPE_CHECKING:
    from townsquare.core.guilds.models import Guild

__all__ = ["ActorKind", "AuditEntry"]


class ActorKind(enum.StrEnum):
    USER = "user"
    """A Discord user, through the dashboard or a command."""
    OPERATOR = "operator"
    """Someone at the console or CLI of the deployment."""
    SYSTEM = "system"
    """Townsquare itself (automod, expiry, entitlement events)."""


class AuditEntry(Model):
    id = fields.BigIntField(primary_key=True)
    guild: fields.ForeignKeyNullableRelation[Guild] = fields.ForeignKeyField(
        "townsquare.Guild", related_name="audit_entries", null=True, on_delete=fields.CASCADE
    )
    actor_kind = fields.CharEnumField(ActorKind, max_length=16)
    actor_id = fields.BigIntField(null=True)
    """The Discord user id for `user` actors."""
    actor_name = fields.CharField(max_length=100, db_default="")
    action = fields.CharField(max_length=64)
    """Dotted verb such as `config.update` or `premium.grant`."""
    target = fields.CharField(max_length=200, db_default="")
    before: fields.JSONField[typing.Any] = fields.JSONField(null=True)
    after: fields.JSONField[typing.Any] = fields.JSONField(null=True)
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "audit_entries"
        indexes = (("guild_id", "at"),)
