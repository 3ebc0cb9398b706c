"""Giveaways in PostgreSQL, the durable truth: the giveaway and its state, entries, picks.

The state only moves forward, and only by conditional updates (`UPDATE ... WHERE state = ...`)
or under the row's lock (`SELECT ... FOR UPDATE`), so two workers, a killed worker's
redelivery and `/giveaway end` racing the timer all end one giveaway once
(`townsquare.features.giveaways.domain.lifecycle`).
"""

from __future__ import annotations

import enum
import typing

from tortoise import fields
from tortoise.models import Model

if typing.TYPE_CHECKING:
    from townsquare.core.guilds.models import Guild

__all__ = ["Giveaway", "GiveawayEntry", "GiveawayPick", "GiveawayState", "PickOutcome"]


class GiveawayState(enum.StrEnum):
    SCHEDULED = "scheduled"
    """Created; its message is posted at `starts_at`."""
    RUNNING = "running"
    """Its message is up and members enter."""
    DRAWING = "drawing"
    """Its end began: entries are final and the winners are being drawn."""
    CLAIMING = "claiming"
    """Winners drawn and announced; their claim windows run."""
    ENDED = "ended"
    """Every winner slot is claimed or finally unclaimed."""
    CANCELLED = "cancelled"


class PickOutcome(enum.StrEnum):
    """What became of one position of the draw."""

    SKIPPED = "skipped"
    """Drawn but no longer eligible at draw time (`reason` says why)."""
    PENDING = "pending"
    """A winner whose claim window runs."""
    CLAIMED = "claimed"
    EXPIRED = "expired"
    """A winner who did not claim in time: their slot was rerolled (or ended unclaimed)."""
    LEFT = "left"
    """A winner who left the server before claiming: their slot was rerolled at once."""
    REPLACED = "replaced"
    """A winner rerolled away by the host (`/giveaway reroll`)."""


class Giveaway(Model):
    id = fields.BigIntField(primary_key=True)
    guild: fields.ForeignKeyRelation[Guild] = fields.ForeignKeyField(
        "townsquare.Guild", related_name="giveaways", on_delete=fields.CASCADE
    )
    guild_id: int
    channel_id = fields.BigIntField()
    message_id = fields.BigIntField(null=True)
    host_id = fields.BigIntField()
    prize = fields.CharField(max_length=256)
    winner_count = fields.IntField()
    state = fields.CharEnumField(GiveawayState, max_length=16)
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    requirements: typing.Any = fields.JSONField()
    """`Requirements` as JSON."""
    claim_window_seconds = fields.IntField()
    max_rerolls = fields.IntField()
    seed = fields.CharField(max_length=64)
    """Secret until the draw: never shown while the giveaway runs."""
    seed_hash = fields.CharField(max_length=64)
    """The SHA-256 of the seed, shown from the start."""
    next_position = fields.IntField(db_default=0)
    """The next position of the draw's sequence."""
    entry_count = fields.IntField(db_default=0)
    entries_digest = fields.CharField(max_length=64, null=True)
    """SHA-256 of the frozen entry list (`user_id:weight` lines, sorted), set at the draw."""
    ended_at = fields.DatetimeField(null=True)
    cancel_reason = fields.CharField(max_length=300, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "giveaways"
        indexes = (("state", "ends_at"), ("guild_id", "state"))


class GiveawayEntry(Model):
    """One member's entry, flushed from Redis in batches (`active` false: they left it)."""

    id = fields.BigIntField(primary_key=True)
    giveaway: fields.ForeignKeyRelation[Giveaway] = fields.ForeignKeyField(
        "townsquare.Giveaway", related_name="entries", on_delete=fields.CASCADE
    )
    giveaway_id: int
    user_id = fields.BigIntField()
    weight = fields.IntField()
    active = fields.BooleanField()
    entered_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "giveaway_entries"
        unique_together = (("giveaway", "user_id"),)


class GiveawayPick(Model):
    """One position of the draw's sequence: a winner of a slot, or a skipped candidate."""

    id = fields.BigIntField(primary_key=True)
    giveaway: fields.ForeignKeyRelation[Giveaway] = fields.ForeignKeyField(
        "townsquare.Giveaway", related_name="picks", on_delete=fields.CASCADE
    )
    giveaway_id: int
    position = fields.IntField()
    user_id = fields.BigIntField()
    slot = fields.IntField(null=True)
    """The winner slot (1..winner_count) this pick filled; None for a skipped candidate."""
    outcome = fields.CharEnumField(PickOutcome, max_length=16)
    reason = fields.CharField(max_length=300, null=True)
    claim_deadline = fields.DatetimeField(null=True)
    claimed_at = fields.DatetimeField(null=True)
    announced_at = fields.DatetimeField(null=True)
    """When the winner was announced in the channel (None: the announcement is due)."""
    dm = fields.CharField(max_length=16, null=True)
    """The claim DM: `sent`, `closed` (the member takes no DMs: recorded, not an error)."""
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "giveaway_picks"
        unique_together = (("giveaway", "position"),)
        indexes = (("outcome", "claim_deadline"),)
