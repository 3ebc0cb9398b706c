"""hikari events -> the records of `townsquare.core.events`, filtering what no pipeline wants.

Pure functions of the event (and, for voice and guild records, of the time the shard received
it): no I/O, no cache writes, cheap enough to run inside the gateway's event handler.

Filtered here, so workers never see them: messages by bots and webhooks, system messages
(joins, boosts, pins: anything but a normal message or a reply), and direct messages (the DM
intents are not requested and no DM event is subscribed).
"""

from __future__ import annotations

import re
import typing

import hikari

from townsquare.core.events import (
    AuditLogRecord,
    AutomodExecutionRecord,
    EntitlementRecord,
    GuildRecord,
    MemberJoinRecord,
    MemberLeaveRecord,
    MessageDeleteRecord,
    MessageEditRecord,
    MessageRecord,
    VoiceStateRecord,
)
from townsquare.core.snowflakes import snowflake_ms

if typing.TYPE_CHECKING:
    import datetime
    from collections.abc import Iterable, Mapping

__all__ = [
    "USER_MESSAGE_TYPES",
    "audit_log_record",
    "automod_execution_record",
    "entitlement_record",
    "guild_record",
    "link_count",
    "member_join_record",
    "member_leave_record",
    "message_change_record",
    "message_record",
    "message_record_from_payload",
    "voice_record",
]

USER_MESSAGE_TYPES: typing.Final = frozenset({hikari.MessageType.DEFAULT, hikari.MessageType.REPLY})
"""Messages a member typed; every other type is a system message."""
_USER_MESSAGE_TYPE_VALUES: typing.Final = frozenset(int(t) for t in USER_MESSAGE_TYPES)
_REPLY_TYPE: typing.Final = int(hikari.MessageType.REPLY)

_LINK = re.compile(r"https?://[^\s<>]+", re.IGNORECASE)


def link_count(content: str) -> int:
    """URLs (http and https) in `content`, as Discord would embed or auto-link them."""
    return len(_LINK.findall(content))


def message_record(
    event: hikari.GuildMessageCreateEvent, *, with_content: bool = False
) -> MessageRecord | None:
    """The record of a member's guild message, or None for bots, webhooks and system messages.

    `length` and `link_count` come from the content, so they are 0 without the MESSAGE_CONTENT
    intent (Discord blanks the text). Mentions do not need it: they are counted from the
    message's mention lists, users plus roles, plus one for @everyone/@here.
    """
    message = event.message
    if event.is_webhook or event.is_bot or message.type not in USER_MESSAGE_TYPES:
        return None
    content = message.content or ""
    member = event.member
    users, roles = message.user_mentions, message.role_mention_ids
    mentions = (0 if users is hikari.UNDEFINED else len(users)) + (
        0 if roles is hikari.UNDEFINED else len(roles)
    )
    if message.mentions_everyone is True:
        mentions += 1
    return MessageRecord(
        guild_id=event.guild_id,
        channel_id=event.channel_id,
        author_id=event.author_id,
        message_id=message.id,
        timestamp_ms=snowflake_ms(message.id),
        # hikari adds @everyone (id = the guild's) to every member; Discord's list omits it.
        role_ids=tuple(r for r in member.role_ids if r != event.guild_id) if member else (),
        length=len(content),
        mention_count=mentions,
        link_count=link_count(content),
        content=content if with_content else None,
        referenced_message_id=(
            int(message.referenced_message.id)
            if message.type == hikari.MessageType.REPLY and message.referenced_message
            else None
        ),
    )


def message_record_from_payload(
    payload: Mapping[str, typing.Any], *, with_content: bool = False
) -> MessageRecord | None:
    """:func:`message_record` straight from a raw `MESSAGE_CREATE` payload (Discord's JSON).

    The same record and the same filters, without hikari building the whole `Message` (its
    author, member, embeds, mentions, ...) of which a record keeps ten fields: the shard
    takes the payloads from hikari's dispatch and nobody listens to its message events, so
    hikari skips deserialising messages (see `cluster._consume_raw`). Also None for
    direct messages (no `guild_id`). Mentions count distinct users, as hikari's
    `user_mentions` mapping does.
    """
    guild = payload.get("guild_id")
    if guild is None or payload.get("webhook_id") is not None:
        return None
    if payload.get("type") not in _USER_MESSAGE_TYPE_VALUES:
        return None
    author = payload["author"]
    if author.get("bot", False):
        return None
    guild_id = int(guild)
    content = payload.get("content") or ""
    users = payload.get("mentions")
    mentions = (len({user["id"] for user in users}) if users else 0) + len(
        payload.get("mention_roles") or ()
    )
    if payload.get("mention_everyone") is True:
        mentions += 1
    member = payload.get("member")
    message_id = int(payload["id"])
    return MessageRecord(
        guild_id=guild_id,
        channel_id=int(payload["channel_id"]),
        author_id=int(author["id"]),
        message_id=message_id,
        timestamp_ms=snowflake_ms(message_id),
        role_ids=tuple(r for r in map(int, member.get("roles", ())) if r != guild_id)
        if member
        else (),
        length=len(content),
        mention_count=mentions,
        link_count=link_count(content) if content else 0,
        content=content if with_content else None,
        referenced_message_id=_referenced(payload),
    )


def message_change_record(
    event_name: str, payload: Mapping[str, typing.Any], received_ms: int, *, with_content: bool
) -> MessageEditRecord | MessageDeleteRecord | None:
    """The record of a guild message's edit (MESSAGE_UPDATE) or deletion (MESSAGE_DELETE,
    MESSAGE_DELETE_BULK) from its raw payload; None for direct messages and for updates that
    change no text (a link preview added, a pin), and for edits by bots and webhooks."""
    guild = payload.get("guild_id")
    if guild is None:
        return None
    guild_id, channel_id = int(guild), int(payload["channel_id"])
    if event_name == "MESSAGE_UPDATE":
        author = payload.get("author") or {}
        if "content" not in payload or author.get("bot") or payload.get("webhook_id"):
            return None
        return MessageEditRecord(
            guild_id=guild_id,
            channel_id=channel_id,
            message_id=int(payload["id"]),
            content=(payload.get("content") or "") if with_content else None,
            timestamp_ms=received_ms,
        )
    ids = payload.get("ids") if event_name == "MESSAGE_DELETE_BULK" else [payload.get("id")]
    return MessageDeleteRecord(
        guild_id=guild_id,
        channel_id=channel_id,
        message_ids=tuple(int(found) for found in ids or () if found is not None),
        timestamp_ms=received_ms,
    )


def _referenced(payload: Mapping[str, typing.Any]) -> int | None:
    """The replied-to message of a reply (type 19), from its `message_reference`."""
    reference = payload.get("message_reference")
    if payload.get("type") != _REPLY_TYPE or not isinstance(reference, dict):
        return None
    message_id = reference.get("message_id")
    return int(message_id) if message_id is not None else None


def voice_record(state: hikari.VoiceState, received_ms: int) -> VoiceStateRecord:
    """A member's voice state after a change; `channel_id` None means they left voice."""
    return VoiceStateRecord(
        guild_id=state.guild_id,
        user_id=state.user_id,
        channel_id=state.channel_id,
        is_bot=state.member is not None and state.member.is_bot,
        self_mute=state.is_self_muted,
        self_deaf=state.is_self_deafened,
        mute=state.is_guild_muted,
        deaf=state.is_guild_deafened,
        timestamp_ms=received_ms,
    )


def guild_record(
    guild: hikari.Guild, voice_states: Iterable[hikari.VoiceState], received_ms: int
) -> GuildRecord:
    """Guild facts with everyone in voice, so voice XP starts right after a (re)connect."""
    return GuildRecord(
        guild_id=guild.id,
        name=guild.name,
        owner_id=guild.owner_id,
        afk_channel_id=guild.afk_channel_id,
        voice_states=tuple(
            voice_record(state, received_ms)
            for state in voice_states
            if state.channel_id is not None
        ),
        timestamp_ms=received_ms,
    )


def member_join_record(member: hikari.Member, received_ms: int) -> MemberJoinRecord:
    """A member joined: who, whether a bot, and how old the account is (anti-raid). The time
    is Discord's `joined_at` (ordered like the joins themselves), else when the shard got it."""
    joined = member.joined_at
    return MemberJoinRecord(
        guild_id=member.guild_id,
        user_id=member.id,
        is_bot=member.is_bot,
        account_created_ms=snowflake_ms(member.id),
        timestamp_ms=received_ms if joined is None else int(joined.timestamp() * 1000),
    )


def member_leave_record(
    payload: Mapping[str, typing.Any], received_ms: int, dispatch: tuple[str, int] | None
) -> MemberLeaveRecord:
    """A member left, was kicked or banned, from a raw GUILD_MEMBER_REMOVE payload: who, and
    whether a bot. Discord's payload has no time and no id: the record's time is when the
    shard got it, and `dispatch`, the gateway session and sequence number the payload came
    with (None if unknown), tells this leave from any other, and from nothing else: a RESUME
    replays a dispatch with the same pair."""
    user = payload["user"]
    session, seq = (None, None) if dispatch is None else dispatch
    return MemberLeaveRecord(
        guild_id=int(payload["guild_id"]),
        user_id=int(user["id"]),
        is_bot=bool(user.get("bot", False)),
        timestamp_ms=received_ms,
        gateway_session=session,
        gateway_seq=seq,
    )


_ENTITLEMENT_EVENTS: typing.Final = {
    hikari.EntitlementCreateEvent: "create",
    hikari.EntitlementUpdateEvent: "update",
    hikari.EntitlementDeleteEvent: "delete",
}


def entitlement_record(event: hikari.EntitlementEvent, received_ms: int) -> EntitlementRecord:
    """An entitlement as Discord sent it; a DELETE is deleted whatever the payload says."""
    entitlement = event.entitlement
    name = _ENTITLEMENT_EVENTS[type(event)]

    def ms(moment: datetime.datetime | None) -> int | None:
        return None if moment is None else int(moment.timestamp() * 1000)

    return EntitlementRecord(
        event=name,
        entitlement_id=entitlement.id,
        sku_id=entitlement.sku_id,
        guild_id=entitlement.guild_id,
        user_id=entitlement.user_id,
        type=int(entitlement.type),
        deleted=entitlement.is_deleted or name == "delete",
        consumed=entitlement.is_consumed,
        starts_at_ms=ms(entitlement.starts_at),
        ends_at_ms=ms(entitlement.ends_at),
        timestamp_ms=received_ms,
    )


def automod_execution_record(
    event: hikari.events.auto_mod_events.AutoModActionExecutionEvent, received_ms: int
) -> AutomodExecutionRecord:
    """Discord's AutoMod acted: on whom, by which rule and action, on which text."""
    return AutomodExecutionRecord(
        guild_id=event.guild_id,
        user_id=event.user_id,
        rule_id=event.rule_id,
        trigger_type=int(event.rule_trigger_type or 0),
        action_type=int(event.action.type or 0),
        channel_id=event.channel_id,
        message_id=event.message_id,
        matched_keyword=event.matched_keyword,
        content=event.content or None,
        timestamp_ms=received_ms,
    )


def audit_log_record(entry: hikari.AuditLogEntry) -> AuditLogRecord:
    """An audit-log entry: who did what to what, when (its id's time, so windows follow
    Discord's order of the changes, not the shard's)."""
    return AuditLogRecord(
        guild_id=entry.guild_id,
        entry_id=entry.id,
        action_type=int(entry.action_type),
        user_id=entry.user_id,
        target_id=entry.target_id,
        timestamp_ms=snowflake_ms(entry.id),
    )
