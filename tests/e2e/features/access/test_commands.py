"""End to end: who may use the managing commands: Manage Server, or one of the guild's bot
manager roles, read by the shard from the Redis config cache as the dashboard changes it."""

from __future__ import annotations

import typing

import pytest

from tests.support.bot import SETTINGS, BotRunning
from tests.support.world import role_named
from townsquare.core.audit.models import AuditEntry
from townsquare.core.audit.service import Actor
from townsquare.core.config.cache import get_config, store_config
from townsquare.core.config.service import update_guild_config
from townsquare.features.access.domain.config import CommandsSection

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from tests.support.discord import Discord
    from tests.support.xp import Totals
    from townsquare.core.keyspace import Keyspace

pytestmark = pytest.mark.integration


async def test_members_without_manage_server_are_refused_privately(
    discord: Discord, totals: Totals, bot_running: BotRunning
) -> None:
    guild = discord.guild
    alder = discord.user("alder")
    await totals.put({alder: 40})

    async with bot_running():
        # A plain member, and a moderator (kick, ban, timeout, but not Manage Server).
        answers = [
            await discord.run(who, "/xp set", member=alder, amount=9000) for who in ("alder", "ada")
        ]
        answers.append(await discord.run("ada", "/xp reset-guild"))

    for answer in answers:
        assert not answer.deferred
        assert answer.ephemeral
        assert answer.content == (
            "Only members with the Manage Server permission or one of this server's "
            "bot manager roles can change XP, and you have neither here."
        )
        assert not answer.components
    assert await totals.of(alder) == 40
    assert await AuditEntry.filter(guild_id=guild.id).count() == 0


async def set_manager_roles(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, role_ids: list[int]
) -> None:
    """Change the guild's manager roles as the dashboard does: database, audit, Redis cache."""
    current = await get_config(redis, keyspace, guild_id, SETTINGS.guild_defaults)
    changed = current.config.with_section(CommandsSection(manager_role_ids=role_ids))
    saved = await update_guild_config(
        guild_id,
        changed,
        expected_version=current.version,
        actor=Actor.system(),
        defaults=SETTINGS.guild_defaults,
    )
    assert await store_config(redis, keyspace, guild_id, saved)


async def test_members_with_a_configured_manager_role_may_manage(
    discord: Discord,
    totals: Totals,
    redis: aioredis.Redis,
    keyspace: Keyspace,
    bot_running: BotRunning,
) -> None:
    guild = discord.guild
    alder, ada = discord.user("alder"), discord.user("ada")
    moderator = role_named(guild, "Moderator")
    await set_manager_roles(redis, keyspace, guild.id, [moderator])

    async with bot_running():
        # ada is a Moderator (no Manage Server); alder has no staff role.
        changed = await discord.run("ada", "/xp set", member=alder, amount=9000)
        shown = await discord.run("ada", "/config show")
        plain = await discord.run("alder", "/xp set", member=alder, amount=5)
        # The role is taken off the list: the next command sees the change.
        await set_manager_roles(redis, keyspace, guild.id, [])
        later = await discord.run("ada", "/xp set", member=alder, amount=5)

    assert changed.content == f"Set <@{alder}>'s XP to 9,000: now 9,000 XP, level 13."
    assert shown.ephemeral
    assert f"<@&{moderator}>" in shown.embeds[0]["fields"][-1]["value"]
    for refused in (plain, later):
        assert refused.ephemeral
        assert "bot manager roles can change XP, and you have neither here" in refused.content
    assert await totals.of(alder) == 9000
    entries = await AuditEntry.filter(guild_id=guild.id, action__startswith="xp.")
    assert [(e.action, e.actor_id) for e in entries] == [("xp.set", ada)]
