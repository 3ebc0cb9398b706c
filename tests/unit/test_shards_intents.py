"""Intents and cache follow the enabled features."""

from __future__ import annotations

import hikari

from townsquare.core.settings import load_settings
from townsquare.shards import cache_settings, gateway_intents

BASE = hikari.Intents.GUILDS | hikari.Intents.GUILD_MESSAGES | hikari.Intents.GUILD_VOICE_STATES
AUTOMOD_OFF = {"TOWNSQUARE__GUILD_DEFAULTS__MODERATION__AUTOMOD__ENABLED": "false"}
AI_ON = {"TOWNSQUARE__AI__ENABLED": "true", "TOWNSQUARE__AI__GEMINI_API_KEY": "k"}


def intents(**environ: str) -> hikari.Intents:
    return gateway_intents(load_settings(environ=environ, env_file=None))


def test_defaults_read_content_because_automod_is_on_for_new_guilds() -> None:
    assert intents() == BASE | hikari.Intents.MESSAGE_CONTENT


def test_no_content_intent_when_neither_automod_nor_the_assistant_reads_text() -> None:
    assert intents(**AUTOMOD_OFF) == BASE


def test_the_assistant_alone_needs_content() -> None:
    assert intents(**AUTOMOD_OFF, **AI_ON) == BASE | hikari.Intents.MESSAGE_CONTENT


def test_never_members_presences_or_direct_messages() -> None:
    unwanted = (
        hikari.Intents.GUILD_MEMBERS
        | hikari.Intents.GUILD_PRESENCES
        | hikari.Intents.DM_MESSAGES
        | hikari.Intents.GUILD_MESSAGE_REACTIONS
    )
    assert not intents(**AI_ON) & unwanted


def test_members_joining_and_leaving_once_the_operator_says_the_portal_has_the_intent() -> None:
    on = {"TOWNSQUARE__DISCORD__SERVER_MEMBERS_INTENT": "true"}
    assert intents(**AUTOMOD_OFF, **on) == BASE | hikari.Intents.GUILD_MEMBERS
    anti_raid = {"TOWNSQUARE__GUILD_DEFAULTS__MODERATION__ANTI_RAID__ENABLED": "true"}
    assert intents(**AUTOMOD_OFF, **anti_raid) == BASE | hikari.Intents.GUILD_MEMBERS


def test_cache_keeps_guilds_roles_channels_voice_states_and_nothing_heavy() -> None:
    components = cache_settings().components
    wanted = hikari.api.CacheComponents
    assert components & wanted.GUILDS and components & wanted.ROLES
    assert components & wanted.GUILD_CHANNELS and components & wanted.VOICE_STATES
    assert not components & (wanted.MEMBERS | wanted.MESSAGES | wanted.PRESENCES)
    assert not components & (wanted.EMOJIS | wanted.GUILD_STICKERS | wanted.INVITES)
