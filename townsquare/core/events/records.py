"""The records shards publish, defined once for producers (shards) and consumers (tasks).

Records are deliberately small: ids, a timestamp, counts and flags. Message content travels
only to the pipelines that read it (automod, ai); the XP pipeline never sees it. Every record
carries `v`, the schema version, so a worker can refuse (dead-letter) a record written by a
newer producer instead of misreading it. Timestamps are Unix milliseconds from Discord's
snowflakes or event payloads, never the worker's clock, so ordering rules (the XP cooldown)
hold however late a record is processed.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "SCHEMA_VERSION",
    "AnyRecord",
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
    "parse_records",
]

SCHEMA_VERSION: Literal[1] = 1

Snowflake = Annotated[int, Field(ge=1, le=2**64 - 1)]
Count = Annotated[int, Field(ge=0)]
GatewaySessionId = Annotated[str, Field(min_length=1, max_length=128)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = SCHEMA_VERSION
    """Schema version of the record."""


class MessageRecord(_Record):
    """A guild message by a human member (bots, webhooks and DMs are filtered at the shard)."""

    kind: Literal["message"] = "message"
    guild_id: Snowflake
    channel_id: Snowflake
    author_id: Snowflake
    message_id: Snowflake
    timestamp_ms: Count
    """When Discord created the message (from its snowflake)."""
    role_ids: tuple[Snowflake, ...]
    """The author's roles at the time of the message."""
    length: Count
    """Characters of content."""
    mention_count: Count
    """User and role mentions, plus one for @everyone/@here."""
    link_count: Count
    content: str | None = None
    """Only for pipelines that need the text (automod, ai); None on the XP stream."""
    referenced_message_id: Snowflake | None = None
    """The message this one replies to (a reply's `message_reference`), else None."""


class VoiceStateRecord(_Record):
    """A member's voice state after a change (join, leave, move, mute, deafen)."""

    kind: Literal["voice"] = "voice"
    guild_id: Snowflake
    user_id: Snowflake
    channel_id: Snowflake | None
    """None when the member left voice."""
    is_bot: bool
    self_mute: bool
    self_deaf: bool
    mute: bool
    """Muted by the server."""
    deaf: bool
    """Deafened by the server."""
    timestamp_ms: Count
    """When the shard received the change."""


class GuildRecord(_Record):
    """Guild facts the pipelines need: sent when a shard receives the guild and when it changes."""

    kind: Literal["guild"] = "guild"
    guild_id: Snowflake
    name: str
    owner_id: Snowflake
    afk_channel_id: Snowflake | None
    voice_states: tuple[VoiceStateRecord, ...] = ()
    """Everyone in voice when the shard received the guild, so voice XP starts right."""
    timestamp_ms: Count


class MemberJoinRecord(_Record):
    """A member joined a guild (GUILD_MEMBER_ADD; only with the GUILD_MEMBERS intent)."""

    kind: Literal["member_join"] = "member_join"
    guild_id: Snowflake
    user_id: Snowflake
    is_bot: bool
    account_created_ms: Count
    """When the account was made (from the user id's snowflake): anti-raid's account age."""
    timestamp_ms: Count
    """When the shard received the join."""


class MemberLeaveRecord(_Record):
    """A member left a guild, was kicked or banned (GUILD_MEMBER_REMOVE; only with the
    GUILD_MEMBERS intent)."""

    kind: Literal["member_leave"] = "member_leave"
    guild_id: Snowflake
    user_id: Snowflake
    is_bot: bool
    timestamp_ms: Count
    """When the shard received the leave (Discord's payload carries no time)."""
    gateway_session: GatewaySessionId | None = None
    """The gateway session whose dispatch this was; with `gateway_seq`, which dispatch: the
    pair is unique, and a RESUME's replay of the dispatch carries it again. None when the
    shard did not know it (the leave is then told apart by `timestamp_ms` only)."""
    gateway_seq: Count | None = None
    """The dispatch's sequence number in `gateway_session`."""


class MessageEditRecord(_Record):
    """A guild message's text was edited (MESSAGE_UPDATE with `content`; embed-only updates,
    such as link previews, are not edits)."""

    kind: Literal["message_edit"] = "message_edit"
    guild_id: Snowflake
    channel_id: Snowflake
    message_id: Snowflake
    content: str | None = None
    """Only for pipelines that need the text (as `MessageRecord.content`)."""
    timestamp_ms: Count
    """When the shard received the edit."""


class MessageDeleteRecord(_Record):
    """Guild messages were deleted (MESSAGE_DELETE, or one MESSAGE_DELETE_BULK)."""

    kind: Literal["message_delete"] = "message_delete"
    guild_id: Snowflake
    channel_id: Snowflake
    message_ids: tuple[Snowflake, ...]
    timestamp_ms: Count
    """When the shard received the deletion."""


class EntitlementRecord(_Record):
    """An entitlement (a premium purchase) was created, updated or deleted (ENTITLEMENT_*).

    Discord sends these on the shard of the guild the entitlement is for (shard 0 for a
    user's); they need no intent."""

    kind: Literal["entitlement"] = "entitlement"
    event: Literal["create", "update", "delete"]
    entitlement_id: Snowflake
    sku_id: Snowflake
    guild_id: Snowflake | None
    """None for a user's own entitlement."""
    user_id: Snowflake | None
    type: Count
    """Discord's entitlement type (8: application subscription, 1: purchase, ...)."""
    deleted: bool
    consumed: bool
    starts_at_ms: Count | None
    ends_at_ms: Count | None
    """None: no end (a subscription renewing, a test entitlement)."""
    timestamp_ms: Count
    """When the shard received the event."""


class AutomodExecutionRecord(_Record):
    """Discord's own AutoMod acted on a member (AUTO_MODERATION_ACTION_EXECUTION, one per
    action; intent AUTO_MODERATION_EXECUTION)."""

    kind: Literal["automod_execution"] = "automod_execution"
    guild_id: Snowflake
    user_id: Snowflake
    rule_id: Snowflake
    trigger_type: Count
    action_type: Count
    channel_id: Snowflake | None
    message_id: Snowflake | None
    """None when the message was blocked (it never existed)."""
    matched_keyword: str | None
    content: str | None = None
    """Only for pipelines that read text (automod)."""
    timestamp_ms: Count
    """When the shard received it."""


class AuditLogRecord(_Record):
    """Someone changed the guild in a way the audit log keeps (GUILD_AUDIT_LOG_ENTRY_CREATE;
    intent GUILD_MODERATION, and Discord sends it only to a bot with VIEW_AUDIT_LOG)."""

    kind: Literal["audit_log_entry"] = "audit_log_entry"
    guild_id: Snowflake
    entry_id: Snowflake
    action_type: Count
    """Discord's audit-log action type (12 channel delete, 22 ban, 50 webhook create ...)."""
    user_id: Snowflake | None
    """Who made the change (None: Discord itself)."""
    target_id: Snowflake | None
    timestamp_ms: Count
    """When the entry was made (from its id's snowflake)."""


AnyRecord = (
    MessageRecord
    | VoiceStateRecord
    | GuildRecord
    | EntitlementRecord
    | MemberJoinRecord
    | MemberLeaveRecord
    | AutomodExecutionRecord
    | MessageEditRecord
    | MessageDeleteRecord
    | AuditLogRecord
)
"""Any record a shard publishes."""

EventRecord = Annotated[AnyRecord, Field(discriminator="kind")]

_BATCH = TypeAdapter(list[EventRecord])


def parse_records(data: object) -> list[AnyRecord]:
    """Validate a batch as it arrives from a stream (raises pydantic's ValidationError)."""
    return _BATCH.validate_python(data)
