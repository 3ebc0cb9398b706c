"""The gateway intents and the hikari cache a shard asks for: only what the features use.

| intent | why |
| --- | --- |
| `GUILDS` | guilds, roles and channels (the AFK channel), guild create/update/leave |
| `GUILD_MESSAGES` | message XP and automod: every guild message, with the author's roles |
| `GUILD_VOICE_STATES` | voice XP: joins, moves, leaves, mutes and deafens |
| `MESSAGE_CONTENT` | only if a feature reads text: automod (guild defaults) or the AI |

Not requested: `GUILD_MEMBERS` (privileged; a message carries its author's roles and a voice
state its member, so no member list is needed), `GUILD_PRESENCES` (privileged, heavy), direct
messages (nothing reads them; DMs are filtered at the shard anyway), reactions, typing, invites.
"""

from __future__ import annotations

import typing

import hikari
from hikari.impl import CacheSettings

if typing.TYPE_CHECKING:
    from townsquare.core.settings import Settings

__all__ = ["CACHE_COMPONENTS", "cache_settings", "gateway_intents", "needs_message_content"]

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

    Automod is per guild, but a guild's config starts from `guild_defaults`; a deployment that
    turns it off there and never on for a guild does not need the privileged intent.
    """
    return settings.ai.enabled or settings.guild_defaults.moderation.automod.enabled


def gateway_intents(settings: Settings) -> hikari.Intents:
    """The intents the enabled features need (see the module docstring for why each)."""
    intents = (
        hikari.Intents.GUILDS | hikari.Intents.GUILD_MESSAGES | hikari.Intents.GUILD_VOICE_STATES
    )
    if needs_message_content(settings):
        intents |= hikari.Intents.MESSAGE_CONTENT
    return intents


def cache_settings() -> CacheSettings:
    """hikari's cache trimmed to :data:`CACHE_COMPONENTS`."""
    return CacheSettings(components=CACHE_COMPONENTS)
