"""Durable XP totals. Redis holds the hot counters; these rows are flushed from it in bulk."""

from __future__ import annotations

import typing

from tortoise import fields
from tortoise.models import Model

if typing.TYPE_CHECKING:
    from townsquare.core.guilds.models import Guild

__all__ = ["LevelReward", "MemberXP", "RankCardBackground"]


class MemberXP(Model):
    """One member's XP in one guild, as absolute totals (a flush overwrites, never adds)."""

    id = fields.BigIntField(primary_key=True)
    guild: fields.ForeignKeyRelation[Guild] = fields.ForeignKeyField(
        "townsquare.Guild", related_name="member_xp", on_delete=fields.CASCADE
    )
    user_id = fields.BigIntField()
    xp = fields.BigIntField(db_default=0)
    level = fields.IntField(db_default=0)
    message_count = fields.BigIntField(db_default=0)
    voice_minutes = fields.BigIntField(db_default=0)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "member_xp"
        unique_together = (("guild", "user_id"),)
        indexes = (("guild_id", "xp"),)


class LevelReward(Model):
    """A role granted at a level."""

    id = fields.BigIntField(primary_key=True)
    guild: fields.ForeignKeyRelation[Guild] = fields.ForeignKeyField(
        "townsquare.Guild", related_name="level_rewards", on_delete=fields.CASCADE
    )
    level = fields.IntField()
    role_id = fields.BigIntField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "level_rewards"
        unique_together = (("guild", "level", "role_id"),)


class RankCardBackground(Model):
    """A guild's custom rank-card background (premium: `xp.rank_card_background`): the image
    as uploaded, re-encoded to JPEG at the card's size (`domain.backgrounds`)."""

    guild_id = fields.BigIntField(primary_key=True, generated=False)
    image = fields.BinaryField()
    """JPEG bytes, exactly the card's size."""
    uploaded_by = fields.BigIntField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "rank_card_backgrounds"
