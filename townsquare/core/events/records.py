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
    "EventRecord",
    "GuildRecord",
    "MessageRecord",
    "VoiceStateRecord",
    "parse_records",
]

SCHEMA_VERSION: Literal[1] = 1

Snowflake = Annotated[int, Field(ge=1, le=2**64 - 1)]
Count = Annotated[int, Field(ge=0)]


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


EventRecord = Annotated[MessageRecord | VoiceStateRecord | GuildRecord, Field(discriminator="kind")]

_BATCH = TypeAdapter(list[EventRecord])


def parse_records(data: object) -> list[MessageRecord | VoiceStateRecord | GuildRecord]:
    """Validate a batch as it arrives from a stream (raises pydantic's ValidationError)."""
    return _BATCH.validate_python(data)
