"""The gateway intents and the hikari cache a shard asks for: only what the features use.

| intent | why |
| --- | --- |
| `GUILDS` | guilds, roles and channels (the AFK channel), guild create/update/leave |
| `GUILD_MESSAGES` | message XP and automod: every guild message, with the author's roles |
| `GUILD_VOICE_STATES` | voice XP: joins, moves, leaves, mutes and deafens |
| `MESSAGE_CONTENT` | only if a feature reads text: automod (guild defaults) or the AI |
| `GUILD_MEMBERS` | only for joins and leaves: `discord.server_members_intent`, or anti-raid; |
| | with it the shards also answer workers' requests for members in bulk (member_requests.py) |
| `AUTO_MODERATION_EXECUTION` | only if a feature records Discord's AutoMod actions |
| `GUILD_MODERATION` | only if a feature watches the audit log: anti-nuke (guild defaults) |

Not requested otherwise: `GUILD_MEMBERS` (privileged: Discord refuses a bot asking for it
without it switched on in the portal; a message carries its author's roles and a voice state
its member, so no member list is needed), `GUILD_PRESENCES` (privileged, heavy), direct
messages (nothing reads them; DMs are filtered at the shard anyway), reactions, typing,
invites.
"""

from __future__ import annotations

import typing

import hikari
from hikari.impl import CacheSettings

from townsquare.core.features import enabled_features, needs_member_joins

if typing.TYPE_CHECKING:
    from townsquare.core.settings import Settings

__all__ = [
    "CACHE_COMPONENTS",
    "cache_settings",
    "gateway_intents",
    "needs_member_joins",
    "needs_message_content",
]

CACHE_COMPONENTS: typing.Final = (
    hikari.api.CacheComponents.GUILDS
    | hikari.api.CacheComponents.ROLES
    | hikari.api.CacheComponents.GUILD_CHANNELS
    | hikari.api.CacheComponents.VOICE_STATES
    | hikari.api.CacheComponents.ME
)
"""Guilds, roles, channels and voice states (for a guild's voice states on GUILD_UPDATE and
permission checks of commands), and the bot's own user. No members, messages, presences,
emojis, stickers, invites or threads."""


def needs_message_content(settings: Settings) -> bool:
    """Whether a feature reads message text: automod (if on in the guild defaults) or the AI.

    Each feature says so itself (`Feature.reads_message_content`, given the settings).

    Automod is per guild, but a guild's config starts from `guild_defaults`; a deployment that
    turns it off there and never on for a guild does not need the privileged intent.
    """
    return any(
        feature.reads_message_content(settings)
        for feature in enabled_features()
        if feature.reads_message_content is not None
    )


def gateway_intents(settings: Settings) -> hikari.Intents:
    """The intents the enabled features need (see the module docstring for why each)."""
    intents = (
        hikari.Intents.GUILDS | hikari.Intents.GUILD_MESSAGES | hikari.Intents.GUILD_VOICE_STATES
    )
    if needs_message_content(settings):
        intents |= hikari.Intents.MESSAGE_CONTENT
    if needs_member_joins(settings):
        intents |= hikari.Intents.GUILD_MEMBERS
    if any(
        feature.reads_automod_executions(settings)
        for feature in enabled_features()
        if feature.reads_automod_executions is not None
    ):
        intents |= hikari.Intents.AUTO_MODERATION_EXECUTION
    if any(
        feature.reads_audit_log(settings)
        for feature in enabled_features()
        if feature.reads_audit_log is not None
    ):
        intents |= hikari.Intents.GUILD_MODERATION
    return intents


def cache_settings() -> CacheSettings:
    """hikari's cache trimmed to :data:`CACHE_COMPONENTS`."""
    return CacheSettings(components=CACHE_COMPONENTS)
