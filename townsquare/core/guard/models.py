"""Moderation cases: one row per guarded action, numbered per guild without gaps.

Every action that goes through the guard (`townsquare.core.guard.guard`) leaves one case,
whether it was executed, blocked, only logged (dry run) or failed at Discord, so a guild's
history answers "who did what to whom, why, and was it allowed". Case numbers come from
:class:`CaseCounter` in the transaction that inserts the case, so a rolled-back insert gives
its number back and numbers have no gaps.
"""

from __future__ import annotations

import enum

from tortoise import fields
from tortoise.models import Model

__all__ = ["Case", "CaseCounter", "CaseStatus", "DMStatus"]


class CaseStatus(enum.StrEnum):
    PENDING = "pending"
    """Allowed and recorded; the Discord call has not been confirmed yet (a retry finishes it)."""
    EXECUTED = "executed"
    BLOCKED = "blocked"
    """Refused by the guard (hierarchy, permission, anti-abuse); nothing was done."""
    DRY_RUN = "dry_run"
    """Allowed, but the guild runs in dry-run mode: logged as "would have", nothing done."""
    FAILED = "failed"
    """Allowed, but Discord refused (the reason is in `detail`)."""


class DMStatus(enum.StrEnum):
    NONE = ""
    """No DM for this action (DMs off, or an action without a member to tell)."""
    PENDING = "pending"
    SENT = "sent"
    CLOSED = "closed"
    """The member does not accept DMs from the server (Discord error 50007)."""
    FAILED = "failed"


class CaseCounter(Model):
    """The last case number given out in a guild."""

    id = fields.BigIntField(primary_key=True)
    guild_id = fields.BigIntField(unique=True)
    issued = fields.IntField(default=0)
    """The last number given out."""

    class Meta:
        table = "moderation_case_counters"


class Case(Model):
    id = fields.BigIntField(primary_key=True)
    guild_id = fields.BigIntField()
    number = fields.IntField()
    """1, 2, 3 ... per guild, without gaps."""
    key = fields.CharField(max_length=200)
    """The action's idempotency key: the same request twice is one case and one action."""
    action = fields.CharField(max_length=16)
    source = fields.CharField(max_length=16)
    """`command`, `automod`, `schedule`, `antinuke`, `antiraid`, `dashboard`, `discord`."""
    actor_kind = fields.CharField(max_length=16)
    actor_id = fields.BigIntField(null=True)
    actor_name = fields.CharField(max_length=100, default="")
    target_id = fields.BigIntField()
    target_name = fields.CharField(max_length=100, default="")
    reason = fields.TextField(default="")
    status = fields.CharEnumField(CaseStatus, max_length=16)
    detail = fields.TextField(default="")
    """Why it was blocked or failed; for an executed action, what Discord did."""
    points = fields.IntField(default=0)
    """Offense points towards the escalation ladder (0 for actions that are not offenses)."""
    pardoned = fields.BooleanField(default=False)
    duration_seconds = fields.IntField(null=True)
    expires_at = fields.DatetimeField(null=True)
    """A timeout's end or a temporary ban's end."""
    lifted = fields.BooleanField(default=False)
    """A temporary ban that has been lifted (by its schedule or an unban)."""
    channel_id = fields.BigIntField(null=True)
    message_id = fields.BigIntField(null=True)
    """The offending message (its link goes on the case), or the first of those deleted."""
    message_ids: fields.JSONField[list[int]] = fields.JSONField(default=list)
    """For `delete` and `purge`: every message deleted."""
    content = fields.TextField(null=True)
    """For automod: a snapshot of the offending content (at most 2,000 characters)."""
    dm_status = fields.CharEnumField(DMStatus, max_length=16, default=DMStatus.NONE)
    logged = fields.BooleanField(default=False)
    """Posted to the log channel (or there is none)."""
    delete_message_seconds = fields.IntField(default=0)
    """For bans: how far back the member's messages were to be deleted (kept for a retry)."""
    purge_count = fields.IntField(default=0)
    """For `purge`: how many recent messages were to be looked at (kept for a retry)."""
    attempts = fields.IntField(default=0)
    """Times the pending-case sweep has taken this case up (it gives up after a few)."""
    retry_at = fields.DatetimeField(null=True)
    """While `pending`: when the sweep may take the case up again (it claimed it until then)."""
    occurred_at = fields.DatetimeField()
    """When the offense or request happened (a message's time for automod, not the worker's)."""
    recorded_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "moderation_cases"
        unique_together = (("guild_id", "number"), ("guild_id", "key"))
        indexes = (("guild_id", "target_id", "occurred_at"), ("guild_id", "actor_id"))

    @property
    def message_link(self) -> str | None:
        if self.channel_id is None or self.message_id is None:
            return None
        return f"https://discord.com/channels/{self.guild_id}/{self.channel_id}/{self.message_id}"
