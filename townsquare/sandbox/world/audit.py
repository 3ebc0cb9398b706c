"""The audit log: every moderating change, who made it and why, as Discord keeps it.

:func:`record_audit` appends an entry to the guild's log and announces it as
GUILD_AUDIT_LOG_ENTRY_CREATE (intent GUILD_MODERATION), which Discord sends only to bots
with VIEW_AUDIT_LOG in the guild. REST routes record what the bot does (with its
`X-Audit-Log-Reason`); control routes record what people do in their client: the nuke
scenario, and every control route whose change Discord audits (roles, invites, kicks, bans,
channel deletions; `control/acting.py`), by the member the call names.
`GET /guilds/{id}/audit-logs` reads the log back (`rest/routes_audit.py`).
"""

from __future__ import annotations

import enum
import typing

from townsquare.sandbox.intents import Intent
from townsquare.sandbox.world.models import AuditEntry
from townsquare.sandbox.world.permissions import Permission, guild_permissions
from townsquare.sandbox.world.state import Dispatch

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import payloads
    from townsquare.sandbox.world.models import Guild
    from townsquare.sandbox.world.state import World

__all__ = ["AUDIT_LOG_KEPT", "AuditAction", "audit_entry_payload", "record_audit"]

AUDIT_LOG_KEPT: typing.Final = 5000
"""Entries kept per guild (Discord keeps 45 days; the sandbox keeps the newest this many)."""


class AuditAction(enum.IntEnum):
    """Discord's audit-log action types the sandbox records."""

    CHANNEL_CREATE = 10
    CHANNEL_DELETE = 12
    MEMBER_KICK = 20
    MEMBER_BAN_ADD = 22
    MEMBER_BAN_REMOVE = 23
    MEMBER_UPDATE = 24
    MEMBER_ROLE_UPDATE = 25
    BOT_ADD = 28
    ROLE_CREATE = 30
    ROLE_UPDATE = 31
    ROLE_DELETE = 32
    INVITE_CREATE = 40
    WEBHOOK_CREATE = 50
    MESSAGE_DELETE = 72
    MESSAGE_BULK_DELETE = 73


def audit_entry_payload(entry: AuditEntry) -> payloads.JSON:
    """An audit log entry object (Discord's AuditLogEntryResponse)."""
    payload: payloads.JSON = {
        "id": str(entry.id),
        "action_type": entry.action_type,
        "user_id": None if entry.user_id is None else str(entry.user_id),
        "target_id": None if entry.target_id is None else str(entry.target_id),
        "changes": [],
    }
    if entry.reason is not None:
        payload["reason"] = entry.reason
    if entry.options is not None:
        payload["options"] = dict(entry.options)
    return payload


def record_audit(
    world: World,
    guild: Guild,
    action: AuditAction,
    *,
    user_id: int | None,
    target_id: int | None,
    reason: str | None = None,
    options: dict[str, str] | None = None,
) -> AuditEntry:
    """Append an entry (id from the sandbox clock) and announce it to bots that may see it."""
    entry = AuditEntry(
        world.snowflakes.next(), int(action), user_id, target_id, reason or None, options
    )
    guild.audit_log.append(entry)
    if len(guild.audit_log) > AUDIT_LOG_KEPT:
        del guild.audit_log[: len(guild.audit_log) - AUDIT_LOG_KEPT]
    bot = guild.members.get(world.application.bot_user_id)
    if bot is not None and guild_permissions(guild, bot) & Permission.VIEW_AUDIT_LOG:
        data = audit_entry_payload(entry) | {"guild_id": str(guild.id)}
        world.emit(
            Dispatch("GUILD_AUDIT_LOG_ENTRY_CREATE", guild.id, Intent.GUILD_MODERATION, data)
        )
    return entry
