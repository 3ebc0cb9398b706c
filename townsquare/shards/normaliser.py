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

from townsquare.core.events import GuildRecord, MessageRecord, VoiceStateRecord

if typing.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "DISCORD_EPOCH_MS",
    "USER_MESSAGE_TYPES",
    "guild_record",
    "link_count",
    "message_record",
    "message_record_from_payload",
    "snowflake_ms",
    "voice_record",
]

DISCORD_EPOCH_MS: typing.Final = 1_420_070_400_000
"""2015-01-01T00:00:00Z, the zero of Discord's snowflake timestamps."""

USER_MESSAGE_TYPES: typing.Final = frozenset({hikari.MessageType.DEFAULT, hikari.MessageType.REPLY})
"""Messages a member typed; every other type is a system message."""
_USER_MESSAGE_TYPE_VALUES: typing.Final = frozenset(int(t) for t in USER_MESSAGE_TYPES)

_LINK = re.compile(r"https?://[^\s<>]+", re.IGNORECASE)


def snowflake_ms(snowflake: int) -> int:
    """When Discord created `snowflake`, in Unix milliseconds (its top 42 bits)."""
    return (snowflake >> 22) + DISCORD_EPOCH_MS


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
    )


def message_record_from_payload(
    payload: Mapping[str, typing.Any], *, with_content: bool = False
) -> MessageRecord | None:
    """:func:`message_record` straight from a raw `MESSAGE_CREATE` payload (Discord's JSON).

    The same record and the same filters, without hikari building the whole `Message` (its
    author, member, embeds, mentions, ...) of which a record keeps ten fields: the shard
    takes the payloads from hikari's dispatch and nobody listens to its message events, so
    hikari skips deserialising messages (see `cluster._consume_messages_raw`). Also None for
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
    )


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
