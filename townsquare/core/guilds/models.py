"""A guild row exists for every guild the bot has joined, and stays after it leaves."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

__all__ = ["Guild"]


class Guild(Model):
    """A Discord guild. `id` is Discord's snowflake, not a surrogate key."""

    id = fields.BigIntField(primary_key=True, generated=False)
    name = fields.CharField(max_length=100, db_default="")
    owner_id = fields.BigIntField(null=True)
    joined_at = fields.DatetimeField(auto_now_add=True)
    left_at = fields.DatetimeField(null=True)
    """When the bot was removed; data is kept so a re-invite restores it."""

    class Meta:
        table = "guilds"
