"""The rollups' tables: one row per guild, period, bucket and metric; a mark per source."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

__all__ = ["ActivityMark", "ActivityRollup"]


class ActivityRollup(Model):
    """How much of `metric` happened in `guild_id` during the hour or day from `bucket` (UTC).

    Written only as absolute values (`core.activity.rollup`), so a rollup run twice is harmless.
    """

    id = fields.BigIntField(primary_key=True)
    guild_id = fields.BigIntField()
    period = fields.CharField(max_length=4)
    """`hour` or `day`."""
    bucket = fields.DatetimeField()
    metric = fields.CharField(max_length=32)
    value = fields.BigIntField()

    class Meta:
        table = "activity_rollups"
        unique_together = (("guild_id", "period", "bucket", "metric"),)
        indexes = (("period", "bucket"),)


class ActivityMark(Model):
    """How far a durable source has been rolled up (its high-water mark)."""

    source = fields.CharField(max_length=64, primary_key=True)
    rolled_to = fields.DatetimeField()

    class Meta:
        table = "activity_marks"
