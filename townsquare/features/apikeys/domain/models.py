"""API key rows. Only the SHA-256 of a key is stored; the key itself is shown once."""

from __future__ import annotations

import typing

from tortoise import fields
from tortoise.models import Model

if typing.TYPE_CHECKING:
    from townsquare.core.guilds.models import Guild

__all__ = ["ApiKey"]


class ApiKey(Model):
    """A key for `/public/v1` of one guild."""

    id = fields.BigIntField(primary_key=True)
    guild: fields.ForeignKeyRelation[Guild] = fields.ForeignKeyField(
        "townsquare.Guild", related_name="api_keys", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=100)
    """What the admin called it, e.g. "website widget"."""
    prefix = fields.CharField(max_length=16, unique=True)
    """The key's public part (`tsk_<prefix>_...`): shown in lists and used in Redis keys."""
    token_hash = fields.CharField(max_length=64)
    """Hex SHA-256 of the whole key."""
    created_by = fields.BigIntField()
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)
    revoked_by = fields.BigIntField(null=True)

    class Meta:
        table = "api_keys"
        indexes = (("guild_id", "created_at"),)
