"""Normalised gateway events: the small typed records shards publish to pipeline streams."""

from __future__ import annotations

from townsquare.core.events.records import (
    SCHEMA_VERSION,
    AuditLogRecord,
    AutomodExecutionRecord,
    EntitlementRecord,
    EventRecord,
    GuildRecord,
    MemberJoinRecord,
    MemberLeaveRecord,
    MessageDeleteRecord,
    MessageEditRecord,
    MessageRecord,
    VoiceStateRecord,
    parse_records,
)
from townsquare.core.events.wire import encode_job

__all__ = [
    "SCHEMA_VERSION",
    "AuditLogRecord",
    "AutomodExecutionRecord",
    "EntitlementRecord",
    "EventRecord",
    "GuildRecord",
    "MemberJoinRecord",
    "MemberLeaveRecord",
    "MessageDeleteRecord",
    "MessageEditRecord",
    "MessageRecord",
    "VoiceStateRecord",
    "encode_job",
    "parse_records",
]
