"""Discord JSON shapes of world entities, as the REST API and the gateway send them.

Shapes follow the response schemas of Discord's OpenAPI spec (`UserResponse`,
`GuildRoleResponse`, `GuildMemberResponse`, `GuildChannelResponse`, `MessageResponse`, ...):
every required key is present, nullable ones are `None`. Optional keys that hikari converts when
present (`application_id`, `webhook_id`, `message_reference`) are left out rather than null.
"""

from __future__ import annotations

import functools
import typing

from townsquare.sandbox.world.models import ChannelType

if typing.TYPE_CHECKING:
    import datetime

    from townsquare.sandbox.world.models import (
        Application,
        Channel,
        Guild,
        Member,
        Message,
        Role,
        User,
        VoiceState,
    )

__all__ = [
    "JSON",
    "application_payload",
    "channel_payload",
    "guild_payload",
    "iso",
    "member_payload",
    "message_payload",
    "own_user_payload",
    "public_application_payload",
    "role_payload",
    "user_payload",
    "voice_state_payload",
]

JSON = dict[str, typing.Any]


def iso(moment: datetime.datetime | None) -> str | None:
    """Discord's ISO-8601 timestamp form (microseconds, +00:00)."""
    return None if moment is None else moment.isoformat(timespec="microseconds")


@functools.lru_cache(maxsize=4096)
def _joined_iso(moment: datetime.datetime) -> str:
    """`iso` of join times, which every MESSAGE_CREATE's `member` repeats."""
    return moment.isoformat(timespec="microseconds")


def user_payload(user: User) -> JSON:
    payload: JSON = {
        "id": str(user.id),
        "username": user.username,
        "avatar": user.avatar,
        "discriminator": "0",
        "public_flags": 0,
        "flags": 0,
        "global_name": user.global_name,
        "primary_guild": None,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
        "collectibles": None,
    }
    if user.bot:
        payload["bot"] = True
    return payload


def own_user_payload(user: User) -> JSON:
    """`UserPIIResponse`: the current user, as `/users/@me` and READY give it."""
    payload = user_payload(user)
    payload |= {"mfa_enabled": False, "locale": "en-US", "verified": True, "email": None}
    return payload


def role_payload(role: Role) -> JSON:
    payload: JSON = {
        "id": str(role.id),
        "name": role.name,
        "permissions": str(role.permissions),
        "position": role.position,
        "color": role.color,
        "colors": {"primary_color": role.color, "secondary_color": None, "tertiary_color": None},
        "hoist": role.hoist,
        "managed": role.managed,
        "mentionable": role.mentionable,
        "icon": None,
        "unicode_emoji": None,
        "flags": 0,
    }
    if role.bot_id is not None:
        payload["tags"] = {"bot_id": str(role.bot_id)}
    return payload


def member_payload(member: Member, user: User | None) -> JSON:
    """`GuildMemberResponse`; with `user=None` the partial member of MESSAGE_CREATE."""
    payload: JSON = {
        "avatar": None,
        "banner": None,
        "communication_disabled_until": iso(member.communication_disabled_until),
        "flags": 0,
        "joined_at": _joined_iso(member.joined_at),
        "nick": member.nick,
        "pending": False,
        "premium_since": None,
        "roles": [str(r) for r in member.role_ids],
        "mute": member.mute,
        "deaf": member.deaf,
    }
    if user is not None:
        payload["user"] = user_payload(user)
    return payload


def channel_payload(channel: Channel, recipients: list[User] | None = None) -> JSON:
    """A guild channel, or a DM with its `recipients` (the other party, not the bot)."""
    if channel.type is ChannelType.DM:
        return {
            "id": str(channel.id),
            "type": int(channel.type),
            "flags": 0,
            "last_message_id": _maybe_id(channel.last_message_id),
            "recipients": [user_payload(u) for u in recipients or []],
        }
    payload: JSON = {
        "id": str(channel.id),
        "type": int(channel.type),
        "flags": 0,
        "guild_id": str(channel.guild_id),
        "name": channel.name,
        "position": channel.position,
        "parent_id": _maybe_id(channel.parent_id),
        "nsfw": channel.nsfw,
        "permission_overwrites": [
            {"id": str(o.id), "type": o.type, "allow": str(o.allow), "deny": str(o.deny)}
            for o in channel.overwrites
        ],
    }
    if channel.type is ChannelType.GUILD_TEXT:
        payload |= {
            "topic": channel.topic,
            "last_message_id": _maybe_id(channel.last_message_id),
            "last_pin_timestamp": None,
            "rate_limit_per_user": channel.rate_limit_per_user,
            "default_auto_archive_duration": 1440,
            "default_thread_rate_limit_per_user": 0,
        }
    elif channel.type is ChannelType.GUILD_VOICE:
        payload |= {
            "bitrate": channel.bitrate,
            "user_limit": channel.user_limit,
            "rtc_region": None,
            "video_quality_mode": 1,
            "last_message_id": _maybe_id(channel.last_message_id),
            "rate_limit_per_user": channel.rate_limit_per_user,
        }
    return payload


def guild_payload(guild: Guild) -> JSON:
    """`GuildWithCountsResponse` minus the counts; the base of GUILD_CREATE too."""
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "description": None,
        "home_header": None,
        "splash": None,
        "discovery_splash": None,
        "features": [],
        "banner": None,
        "owner_id": str(guild.owner_id),
        "application_id": None,
        "region": "deprecated",
        "afk_channel_id": _maybe_id(guild.afk_channel_id),
        "afk_timeout": guild.afk_timeout,
        "system_channel_id": _maybe_id(guild.system_channel_id),
        "system_channel_flags": 0,
        "widget_enabled": False,
        "widget_channel_id": None,
        "verification_level": guild.verification_level,
        "roles": [role_payload(r) for r in sorted(guild.roles.values(), key=lambda r: r.position)],
        "default_message_notifications": 1,
        "mfa_level": 0,
        "explicit_content_filter": 2,
        "max_presences": None,
        "max_members": 500_000,
        "max_stage_video_channel_users": 50,
        "max_video_channel_users": 25,
        "vanity_url_code": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "rules_channel_id": None,
        "safety_alerts_channel_id": None,
        "public_updates_channel_id": None,
        "premium_progress_bar_enabled": False,
        "nsfw": False,
        "nsfw_level": 0,
        "emojis": [],
        "stickers": [],
        "incidents_data": None,
    }


def voice_state_payload(state: VoiceState, member: JSON | None = None) -> JSON:
    payload: JSON = {
        "guild_id": str(state.guild_id),
        "channel_id": _maybe_id(state.channel_id),
        "user_id": str(state.user_id),
        "session_id": state.session_id,
        "deaf": state.deaf,
        "mute": state.mute,
        "self_deaf": state.self_deaf,
        "self_mute": state.self_mute,
        "self_video": state.self_video,
        "suppress": state.suppress,
        "request_to_speak_timestamp": None,
    }
    if member is not None:
        payload["member"] = member
    return payload


def message_payload(message: Message, author: User, mentions: list[User]) -> JSON:
    """`MessageResponse` as REST returns it (no `guild_id`, no `member`)."""
    payload: JSON = {
        "type": message.type,
        "content": message.content,
        "mentions": [user_payload(u) for u in mentions],
        "mention_roles": [str(r) for r in message.mention_role_ids],
        "attachments": message.attachments,
        "embeds": message.embeds,
        "timestamp": iso(message.timestamp),
        "edited_timestamp": iso(message.edited_timestamp),
        "flags": message.flags,
        "components": message.components,
        "id": str(message.id),
        "channel_id": str(message.channel_id),
        "author": user_payload(author),
        "pinned": message.pinned,
        "mention_everyone": message.mention_everyone,
        "tts": message.tts,
    }
    if message.nonce is not None:
        payload["nonce"] = message.nonce
    if message.referenced_message_id is not None:
        payload["message_reference"] = {
            "type": 0,
            "message_id": str(message.referenced_message_id),
            "channel_id": str(message.channel_id),
        }
    return payload


def public_application_payload(application: Application) -> JSON:
    """`ApplicationResponse`: the public face of the application."""
    return {
        "id": str(application.id),
        "name": application.name,
        "icon": None,
        "description": application.description,
        "type": None,
        "verify_key": application.verify_key,
        "flags": application.flags,
        "flags_new": str(application.flags),
        "bot_public": True,
        "bot_require_code_grant": False,
    }


def application_payload(application: Application, bot: User, owner: User) -> JSON:
    """`PrivateApplicationResponse`, as `/oauth2/applications/@me` gives it."""
    return public_application_payload(application) | {
        "bot": user_payload(bot),
        "redirect_uris": list(application.redirect_uris),
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "owner": user_payload(owner),
        "approximate_guild_count": 1,
        "approximate_user_install_count": 0,
        "approximate_user_authorization_count": 0,
        "explicit_content_filter": 0,
        "team": None,
        "eligible_oauth2_scopes": ["bot", "applications.commands", "identify", "guilds"],
        "tags": [],
    }


def _maybe_id(value: int | None) -> str | None:
    return None if value is None else str(value)
