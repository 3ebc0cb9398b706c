"""End to end: how every slash command is answered (deferred when slow, refusals private,
the service unreachable) through the sandbox, the real `GatewayBot`, the HTTP service's
internal API, Redis and PostgreSQL. The commands of one feature are tested under
`tests/e2e/features/<name>/`.

`ShardCluster` (what `run_shards` runs) runs the real hikari client with the hikari-arc
commands attached, its command services pointed at the real HTTP service (`create_app`, served
by hypercorn on a free loopback port in the test); the slash-command driver (`discord`,
tests/support/discord.py) has the sandbox inject INTERACTION_CREATE for slash commands and
button clicks and reads the bot's answers from the sandbox world. The shard reads the
configuration cache in Redis and asks the internal API for everything else; PostgreSQL
(`orm`) is the HTTP service's, holding the guild configuration behind the Redis cache and the
audit entries.
"""

from __future__ import annotations

import typing

import pytest

from tests.support.bot import (
    SERVICE_TOKEN,
    BotRunning,
    api_client,
    commands_registered,
    mentioned_ids,
)
from tests.support.shards import shards_running
from townsquare.core.audit.models import AuditEntry
from townsquare.core.processes import free_port
from townsquare.core.settings import load_settings

if typing.TYPE_CHECKING:
    from tests.support.discord import Discord
    from tests.support.xp import Totals
    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox

pytestmark = pytest.mark.integration


async def test_slow_answers_are_deferred_and_refusals_stay_private(
    discord: Discord, totals: Totals, bot_running: BotRunning
) -> None:
    ada = discord.user("ada")
    await totals.put({ada: 700})

    # Every answer counts as slow: the command defers at once, then fills the response in.
    async with bot_running(defer_after_seconds=0.0):
        board = await discord.run("alder", "/leaderboard")
        refusal = await discord.run("alder", "/leaderboard", page=2)

    assert board.deferred
    assert not board.ephemeral
    assert mentioned_ids(board.embeds[0]["description"]) == [ada]
    # After a public deferral the refusal is an ephemeral follow-up, still only for the user.
    assert refusal.deferred
    assert refusal.interaction.response_message_id is None
    assert refusal.message.id in refusal.interaction.followup_message_ids
    assert refusal.ephemeral
    assert refusal.content == "There is no page 2: the leaderboard has only page 1."


async def test_run_shards_answers_through_the_internal_api_without_a_database(
    sandbox: Sandbox,
    discord: Discord,
    redis_url: str,
    keyspace: Keyspace,
    internal_url: str,
) -> None:
    # `run_shards` without `database_url`: the shard never connects PostgreSQL. Its command
    # services build their internal API client from the shard's settings.
    settings = load_settings(
        environ={
            "TOWNSQUARE__HTTP__INTERNAL_URL": internal_url,
            "TOWNSQUARE__HTTP__SERVICE_TOKEN": SERVICE_TOKEN,
        },
        env_file=None,
    )
    guild = discord.guild
    alder = discord.user("alder")
    async with shards_running(settings, redis_url, keyspace, sandbox.info):
        await commands_registered(sandbox)
        reply = await discord.run("mayor", "/xp add", member=alder, amount=75)
        shown = await discord.run("mayor", "/config show")
        refused = await discord.run("alder", "/config show")
    assert reply.content == f"Gave 75 XP to <@{alder}>: now 75 XP, level 0."
    entries = await AuditEntry.filter(guild_id=guild.id)
    assert [(e.action, e.actor_id) for e in entries] == [("xp.add", discord.user("mayor"))]
    assert shown.ephemeral
    [embed] = shown.embeds
    assert embed["title"] == "Server configuration"
    assert embed["footer"]["text"].startswith("Version 1")
    assert refused.ephemeral
    assert refused.content.startswith("Only members with the Manage Server permission")
    assert "can see the configuration" in refused.content


async def test_an_unreachable_service_is_refused_privately_and_changes_nothing(
    discord: Discord, totals: Totals, internal_url: str, bot_running: BotRunning
) -> None:
    redis, keyspace = totals.redis, totals.keyspace
    guild = discord.guild
    alder = discord.user("alder")
    # The config is cached (the feature check passes), but nobody answers at this address.
    await redis.delete(keyspace.key("guild_config", guild.id))
    await api_client(internal_url).config(guild.id)  # fills the Redis config cache
    async with bot_running(f"http://127.0.0.1:{free_port()}"):
        reply = await discord.run("mayor", "/xp add", member=alder, amount=75)
    assert reply.ephemeral
    assert reply.content.startswith("The service is unavailable right now")
    assert await totals.of(alder) == 0
