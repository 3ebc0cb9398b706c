"""A guild's configuration document, stored whole and versioned."""

from __future__ import annotations

import typing

from tortoise import fields
from tortoise.models import Model

if typing.TYPE_CHECKING:
    from townsquare.core.guilds.models import Guild

__all__ = ["GuildConfigRecord"]


class GuildConfigRecord(Model):
    """The current document. `version` increases by one per change (optimistic concurrency)."""

    id = fields.BigIntField(primary_key=True)
    guild: fields.OneToOneRelation[Guild] = fields.OneToOneField(
        "townsquare.Guild", related_name="config", on_delete=fields.CASCADE
    )
    version = fields.IntField()
    schema_version = fields.IntField()
    document: fields.JSONField[dict[str, typing.Any]] = fields.JSONField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "guild_configs"
