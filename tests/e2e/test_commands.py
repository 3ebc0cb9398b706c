"""End to end: slash commands and buttons through the sandbox, the real `GatewayBot`, the
HTTP service's internal API, Redis and PostgreSQL.

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

import contextlib
import dataclasses
import io
import re
import typing

import PIL.Image
import pytest

from tests.support.discord import Answer
from tests.support.sandbox import WAIT, target_of
from tests.support.services import free_port, serving
from tests.support.shards import shards_running
from tests.support.waiting import wait_until
from tests.support.world import demo_guild, role_named, user_named
from tests.support.xp import put_totals, total_of
from townsquare.core.audit.models import AuditEntry
from townsquare.core.audit.service import Actor
from townsquare.core.commands_api import MAX_AMOUNT
from townsquare.core.config.cache import get_config, store_config
from townsquare.core.config.schemas import CommandsSection
from townsquare.core.config.service import update_guild_config
from townsquare.core.settings import load_settings
from townsquare.core.xp.rank_card import RankCard, render_rank_card
from townsquare.http import create_app
from townsquare.shards.api_client import InternalAPIClient
from townsquare.shards.cluster import ShardCluster

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    import redis.asyncio as aioredis

    from tests.support.discord import Discord
    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox

pytestmark = pytest.mark.integration

SETTINGS = load_settings(environ={}, env_file=None)
COMMANDS = {"rank", "leaderboard", "xp", "config"}
SERVICE_TOKEN = "e2e-service-token-0123456789abcdef"

type BotRunning = Callable[..., contextlib.AbstractAsyncContextManager[ShardCluster]]


@pytest.fixture
async def internal_url(
    tmp_path: Path, redis_url: str, database_url: str, keyspace: Keyspace, orm: None
) -> AsyncIterator[str]:
    """The HTTP service, served by hypercorn on a free loopback port for the test."""
    settings = load_settings(
        environ={
            "TOWNSQUARE__PATHS__VAR_DIR": str(tmp_path),
            "TOWNSQUARE__REDIS__NAMESPACE": keyspace.namespace,
            "TOWNSQUARE__HTTP__SERVICE_TOKEN": SERVICE_TOKEN,
        },
        env_file=None,
    )
    # Served from this fixture's context, so the requests see the `orm` fixture's connections.
    app = create_app(settings, redis_url, database_url, keyspace, discord=None)
    async with serving(app) as url:
        yield url


def api_client(url: str) -> InternalAPIClient:
    return InternalAPIClient(url, SERVICE_TOKEN)


async def commands_registered(sandbox: Sandbox) -> None:
    guild = demo_guild(sandbox)

    def registered() -> bool:
        names = {name for _, name in sandbox.world.commands.get(guild.id, {})}
        return names >= COMMANDS

    await wait_until(registered, within=WAIT, what="the bot's guild commands")


@pytest.fixture
def bot_running(
    sandbox: Sandbox, redis_url: str, keyspace: Keyspace, internal_url: str
) -> BotRunning:
    """`bot_running(url=internal_url, **services)`: `ShardCluster` (what `run_shards` runs)
    asking the HTTP service at `url`, with some command services replaced, for a block."""

    @contextlib.asynccontextmanager
    async def running(url: str = internal_url, **services: float) -> AsyncIterator[ShardCluster]:
        shards = ShardCluster(SETTINGS, redis_url, keyspace, target_of(sandbox.info), (0,), 1)
        assert shards.command_services is not None
        shards.command_services = dataclasses.replace(
            shards.command_services, api=api_client(url), **services
        )
        await shards.start()
        try:
            await commands_registered(sandbox)
            yield shards
        finally:
            await shards.close()

    return running


def mentioned_ids(text: str) -> list[int]:
    return [int(found) for found in re.findall(r"<@(\d+)>", text)]


async def test_leaderboard_pages_in_order_with_ties_by_user_id(
    sandbox: Sandbox,
    discord: Discord,
    redis: aioredis.Redis,
    keyspace: Keyspace,
    bot_running: BotRunning,
) -> None:
    guild = demo_guild(sandbox)
    names = ["ada", "basil", "clover", "dorian", "elsie", "fennel", "gideon", "harper"]
    names += ["iris", "jasper", "kestrel", "lark"]
    ids = [user_named(sandbox, name) for name in names]
    # Pairs tie: 1200, 1200, 1100, 1100, ...
    totals = {member: 1200 - (index // 2) * 100 for index, member in enumerate(ids)}
    await put_totals(redis, keyspace, guild.id, totals)
    expected = sorted(totals, key=lambda member: (-totals[member], member))

    async with bot_running():
        first = await discord.run("alder", "/leaderboard")
        second = await discord.run("alder", "/leaderboard", page=2)
        refusal = await discord.run("alder", "/leaderboard", page=3)

    [embed] = first.embeds
    assert not first.ephemeral
    assert mentioned_ids(embed["description"]) == expected[:10]
    assert embed["description"].splitlines()[0] == f"`#1` <@{expected[0]}> · level 5 · 1,200 XP"
    assert embed["footer"]["text"] == "Page 1 of 2 · 12 ranked members"
    assert mentioned_ids(second.embeds[0]["description"]) == expected[10:]
    assert second.embeds[0]["description"].startswith("`#11` ")
    assert refusal.ephemeral
    assert refusal.content == "There is no page 3: the leaderboard has pages 1 to 2."


async def test_rank_for_the_invoker_and_for_a_named_member(
    sandbox: Sandbox,
    discord: Discord,
    redis: aioredis.Redis,
    keyspace: Keyspace,
    bot_running: BotRunning,
) -> None:
    guild = demo_guild(sandbox)
    ada, harper, iris = (user_named(sandbox, name) for name in ("ada", "harper", "iris"))
    await put_totals(redis, keyspace, guild.id, {ada: 300, harper: 1500, iris: 300})

    async with bot_running():
        own = await discord.run("ada", "/rank")
        named = await discord.run("ada", "/rank", member=harper)
        newcomer = await discord.run("alder", "/rank")

    # Each answer carries the card: a PNG rendered with Pillow, uploaded as a file.
    cards = [card_of(answer) for answer in (own, named, newcomer)]
    for card in cards:
        assert card.format == "PNG"
        assert card.size == (934, 282)
    assert len({card.tobytes() for card in cards}) == 3, "each member gets their own card"
    # The same facts, rendered: the card of `own` is the card core renders for them.
    expected = render_rank_card(RankCard("Ada", 2, 300, 255, 475, 2), None)
    assert cards[0].tobytes() == PIL.Image.open(io.BytesIO(expected)).tobytes()


def card_of(answer: Answer) -> PIL.Image.Image:
    [attachment] = answer.attachments
    assert attachment["filename"] == "rank.png"
    content_type, data = answer.file("rank.png")
    assert content_type == "image/png"
    return PIL.Image.open(io.BytesIO(data))


async def test_xp_set_by_a_manager_changes_the_total_and_is_audited(
    sandbox: Sandbox,
    discord: Discord,
    redis: aioredis.Redis,
    keyspace: Keyspace,
    bot_running: BotRunning,
) -> None:
    guild = demo_guild(sandbox)
    mayor, alder = user_named(sandbox, "mayor"), user_named(sandbox, "alder")

    async with bot_running():
        reply = await discord.run("mayor", "/xp set", member=alder, amount=1150)
        added = await discord.run("mayor", "/xp add", member=alder, amount=50)
        removed = await discord.run("mayor", "/xp remove", member=alder, amount=100)
        refused = await discord.run("mayor", "/xp add", member=alder, amount=MAX_AMOUNT + 1)
        reset = await discord.run("mayor", "/xp reset", member=alder)

    assert reply.ephemeral
    assert reply.content == f"Set <@{alder}>'s XP to 1,150: now 1,150 XP, level 5."
    assert added.content == f"Gave 50 XP to <@{alder}>: now 1,200 XP, level 5."
    assert removed.content == f"Took 100 XP from <@{alder}>: now 1,100 XP, level 4."
    assert refused.ephemeral and "must be between 0 and 1,000,000,000" in refused.content
    assert reset.content == f"Reset <@{alder}>: 0 XP, level 0."
    assert await total_of(redis, keyspace, guild.id, alder) == 0
    entries = await AuditEntry.filter(guild_id=guild.id).order_by("id")
    assert [(e.action, e.actor_id, e.target, e.before, e.after) for e in entries] == [
        ("xp.set", mayor, f"member {alder}", {"xp": 0}, {"xp": 1150}),
        ("xp.add", mayor, f"member {alder}", {"xp": 1150}, {"xp": 1200}),
        ("xp.remove", mayor, f"member {alder}", {"xp": 1200}, {"xp": 1100}),
        ("xp.reset_member", mayor, f"member {alder}", {"xp": 1100}, {"xp": 0}),
    ]
    assert all(e.actor_name == "mayor" for e in entries)


async def test_members_without_manage_server_are_refused_privately(
    sandbox: Sandbox,
    discord: Discord,
    redis: aioredis.Redis,
    keyspace: Keyspace,
    bot_running: BotRunning,
) -> None:
    guild = demo_guild(sandbox)
    alder = user_named(sandbox, "alder")
    await put_totals(redis, keyspace, guild.id, {alder: 40})

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
    assert await total_of(redis, keyspace, guild.id, alder) == 40
    assert await AuditEntry.filter(guild_id=guild.id).count() == 0


async def set_manager_roles(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, role_ids: list[int]
) -> None:
    """Change the guild's manager roles as the dashboard does: database, audit, Redis cache."""
    current = await get_config(redis, keyspace, guild_id, SETTINGS.guild_defaults)
    changed = current.config.model_copy(
        update={"commands": CommandsSection(manager_role_ids=role_ids)}
    )
    saved = await update_guild_config(
        guild_id,
        changed,
        expected_version=current.version,
        actor=Actor.system(),
        defaults=SETTINGS.guild_defaults,
    )
    assert await store_config(redis, keyspace, guild_id, saved)


async def test_members_with_a_configured_manager_role_may_manage(
    sandbox: Sandbox,
    discord: Discord,
    redis: aioredis.Redis,
    keyspace: Keyspace,
    bot_running: BotRunning,
) -> None:
    guild = demo_guild(sandbox)
    alder, ada = user_named(sandbox, "alder"), user_named(sandbox, "ada")
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
    assert await total_of(redis, keyspace, guild.id, alder) == 9000
    entries = await AuditEntry.filter(guild_id=guild.id, action__startswith="xp.")
    assert [(e.action, e.actor_id) for e in entries] == [("xp.set", ada)]


async def test_reset_guild_waits_for_the_invokers_confirmation(
    sandbox: Sandbox,
    discord: Discord,
    redis: aioredis.Redis,
    keyspace: Keyspace,
    bot_running: BotRunning,
) -> None:
    guild = demo_guild(sandbox)
    members = [user_named(sandbox, name) for name in ("ada", "basil", "clover")]
    await put_totals(redis, keyspace, guild.id, dict.fromkeys(members, 500))

    async with bot_running():
        question = await discord.run("mayor", "/xp reset-guild")
        assert question.ephemeral
        assert "Reset **every** member" in question.content
        assert set(question.buttons) == {"Confirm", "Cancel"}
        assert [await total_of(redis, keyspace, guild.id, m) for m in members] == [500] * 3

        # Someone else's click is refused privately and changes nothing.
        refusal = await discord.press("sheriff", question, "Confirm")
        assert refusal.ephemeral
        assert (
            refusal.content
            == f"Only <@{user_named(sandbox, 'mayor')}>, who asked for this, can answer it."
        )
        assert [await total_of(redis, keyspace, guild.id, m) for m in members] == [500] * 3

        confirmed = await discord.press("mayor", question, "Confirm")
        assert confirmed.message.id == question.message.id  # the question is updated

        def done() -> bool:
            return question.content.startswith("Reset the whole server")

        await wait_until(done, within=WAIT, what="the question replaced by the result")

    assert question.content == "Reset the whole server: 3 members back to 0 XP."
    assert not question.components
    assert [await total_of(redis, keyspace, guild.id, m) for m in members] == [0, 0, 0]
    [entry] = await AuditEntry.filter(guild_id=guild.id, action="xp.reset_guild")
    assert (entry.actor_id, entry.before) == (user_named(sandbox, "mayor"), {"members": 3})


async def test_reset_guild_confirmation_expires(
    sandbox: Sandbox,
    discord: Discord,
    redis: aioredis.Redis,
    keyspace: Keyspace,
    bot_running: BotRunning,
) -> None:
    guild = demo_guild(sandbox)
    ada = user_named(sandbox, "ada")
    await put_totals(redis, keyspace, guild.id, {ada: 500})
    async with bot_running(confirm_seconds=1.0):
        question = await discord.run("mayor", "/xp reset-guild")
        assert "The buttons work for 1 s." in question.content
        confirm = question.buttons["Confirm"]

        def expired() -> bool:
            return question.content == "Expired: nothing was changed."

        await wait_until(expired, within=WAIT, what="the question to expire")
        assert not question.components
        status, _ = await discord.click("mayor", question.message, confirm)
        assert status == 404  # the button is gone
    assert await total_of(redis, keyspace, guild.id, ada) == 500


async def test_slow_answers_are_deferred_and_refusals_stay_private(
    sandbox: Sandbox,
    discord: Discord,
    redis: aioredis.Redis,
    keyspace: Keyspace,
    bot_running: BotRunning,
) -> None:
    guild = demo_guild(sandbox)
    ada = user_named(sandbox, "ada")
    await put_totals(redis, keyspace, guild.id, {ada: 700})

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
    guild = demo_guild(sandbox)
    alder = user_named(sandbox, "alder")
    async with shards_running(settings, redis_url, keyspace, sandbox.info):
        await commands_registered(sandbox)
        reply = await discord.run("mayor", "/xp add", member=alder, amount=75)
        shown = await discord.run("mayor", "/config show")
        refused = await discord.run("alder", "/config show")
    assert reply.content == f"Gave 75 XP to <@{alder}>: now 75 XP, level 0."
    entries = await AuditEntry.filter(guild_id=guild.id)
    assert [(e.action, e.actor_id) for e in entries] == [("xp.add", user_named(sandbox, "mayor"))]
    assert shown.ephemeral
    [embed] = shown.embeds
    assert embed["title"] == "Server configuration"
    assert embed["footer"]["text"].startswith("Version 1")
    assert refused.ephemeral
    assert refused.content.startswith("Only members with the Manage Server permission")
    assert "can see the configuration" in refused.content


async def test_an_unreachable_service_is_refused_privately_and_changes_nothing(
    sandbox: Sandbox,
    discord: Discord,
    redis: aioredis.Redis,
    keyspace: Keyspace,
    internal_url: str,
    bot_running: BotRunning,
) -> None:
    guild = demo_guild(sandbox)
    alder = user_named(sandbox, "alder")
    # The config is cached (the feature check passes), but nobody answers at this address.
    await redis.delete(keyspace.key("guild_config", guild.id))
    await api_client(internal_url).config(guild.id)  # fills the Redis config cache
    async with bot_running(f"http://127.0.0.1:{free_port()}"):
        reply = await discord.run("mayor", "/xp add", member=alder, amount=75)
    assert reply.ephemeral
    assert reply.content.startswith("The service is unavailable right now")
    assert await total_of(redis, keyspace, guild.id, alder) == 0
