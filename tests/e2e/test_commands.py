"""End to end: slash commands and buttons through the sandbox, the real `GatewayBot`, the
HTTP service's internal API, Redis and PostgreSQL.

`ShardCluster` (what `run_shards` runs) runs the real hikari client with the hikari-arc
commands attached, its command services pointed at the real HTTP service (`create_app`, served
by hypercorn on a free loopback port in the test); the sandbox's control API injects
INTERACTION_CREATE for slash commands and button clicks, and the test reads the bot's answers
from the sandbox world. The shard reads the configuration cache in Redis and asks the internal
API for everything else; PostgreSQL (`orm`) is the HTTP service's, holding the guild
configuration behind the Redis cache and the audit entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import re
import socket
import typing

import PIL.Image
import pytest

from tests.e2e.test_shards import WAIT, channel_named, demo_guild, shards_running, target_of
from tests.integration.test_tasks_support import wait_until
from townsquare.core.audit.models import AuditEntry
from townsquare.core.audit.service import Actor
from townsquare.core.config.cache import get_config, store_config
from townsquare.core.config.schemas import CommandsSection
from townsquare.core.config.service import update_guild_config
from townsquare.core.settings import load_settings
from townsquare.features.xp.domain.rank_card import RankCard, render_rank_card
from townsquare.features.xp.domain.wire import MAX_AMOUNT
from townsquare.http import create_app
from townsquare.shards.api_client import InternalAPIClient
from townsquare.shards.cluster import ShardCluster

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import aiohttp
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox, SandboxInfo
    from townsquare.sandbox.world.models import Interaction, Message

pytestmark = pytest.mark.integration

SETTINGS = load_settings(environ={}, env_file=None)
COMMANDS = {"rank", "leaderboard", "xp", "config"}
SERVICE_TOKEN = "e2e-service-token-0123456789abcdef"
EPHEMERAL = 64
DEFERRED = 5
SUB_COMMAND, INTEGER, USER = 1, 4, 6


def user_id(sandbox: Sandbox, username: str) -> int:
    user = sandbox.world.user_named(username)
    assert user is not None
    return user.id


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def internal_url(
    tmp_path: Path, redis_url: str, database_url: str, keyspace: Keyspace, orm: None
) -> AsyncIterator[str]:
    """The HTTP service, served by hypercorn on a free loopback port for the test."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    settings = load_settings(
        environ={
            "TOWNSQUARE__PATHS__VAR_DIR": str(tmp_path),
            "TOWNSQUARE__REDIS__NAMESPACE": keyspace.namespace,
            "TOWNSQUARE__HTTP__SERVICE_TOKEN": SERVICE_TOKEN,
        },
        env_file=None,
    )
    app = create_app(settings, redis_url, database_url, keyspace, discord=None)
    config = Config()
    port = free_port()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.graceful_timeout = 1.0
    stop = asyncio.Event()
    # Served from this task's context, so the requests see the `orm` fixture's connections.
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_port(port)
        yield url
    finally:
        stop.set()
        async with asyncio.timeout(WAIT):
            await task


async def wait_port(port: int) -> None:
    async with asyncio.timeout(WAIT):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            await writer.wait_closed()
            return


def api_client(url: str) -> InternalAPIClient:
    return InternalAPIClient(url, SERVICE_TOKEN)


async def commands_registered(sandbox: Sandbox) -> None:
    guild = demo_guild(sandbox)

    def registered() -> bool:
        names = {name for _, name in sandbox.world.commands.get(guild.id, {})}
        return names >= COMMANDS

    await wait_until(registered, within=WAIT, what="the bot's guild commands")


@contextlib.asynccontextmanager
async def bot_running(
    sandbox: Sandbox, info: SandboxInfo, redis_url: str, keyspace: Keyspace, internal_url: str
) -> AsyncIterator[None]:
    async with cluster_running(sandbox, info, redis_url, keyspace, internal_url):
        yield


async def use(
    http: aiohttp.ClientSession,
    info: SandboxInfo,
    sandbox: Sandbox,
    user: str,
    name: str,
    options: list[dict[str, object]] | None = None,
) -> int:
    """`user` uses `/name` in #bot-commands; returns the interaction id."""
    channel = channel_named(demo_guild(sandbox), "bot-commands")
    body = {
        "channel_id": str(channel.id),
        "user_id": str(user_id(sandbox, user)),
        "name": name,
        "options": options or [],
    }
    async with http.post(f"{info.control_url}/interactions", json=body) as response:
        assert response.status == 200, await response.text()
        return int((await response.json())["id"])


async def click(
    http: aiohttp.ClientSession,
    info: SandboxInfo,
    sandbox: Sandbox,
    user: str,
    message: Message,
    custom_id: str,
) -> tuple[int, int | None]:
    """`user` clicks a button; returns the HTTP status and the interaction id."""
    body = {
        "message_id": str(message.id),
        "user_id": str(user_id(sandbox, user)),
        "custom_id": custom_id,
    }
    async with http.post(f"{info.control_url}/interactions/components", json=body) as response:
        if response.status != 200:
            return response.status, None
        return response.status, int((await response.json())["id"])


def subcommand(name: str, **options: tuple[int, object]) -> list[dict[str, object]]:
    return [
        {
            "name": name,
            "type": SUB_COMMAND,
            "options": [
                {"name": key, "type": kind, "value": value}
                for key, (kind, value) in options.items()
            ],
        }
    ]


async def answer_of(sandbox: Sandbox, interaction_id: int) -> tuple[Interaction, Message]:
    """The interaction once the bot has answered, and the message holding the answer."""
    world = sandbox.world

    def answered() -> bool:
        interaction = world.interactions[interaction_id]
        return interaction.response_message_id is not None or bool(interaction.followup_message_ids)

    await wait_until(answered, within=WAIT, what=f"an answer to interaction {interaction_id}")
    interaction = world.interactions[interaction_id]
    message_id = interaction.response_message_id or interaction.followup_message_ids[-1]
    return interaction, world.messages[message_id]


def mentioned_ids(text: str) -> list[int]:
    return [int(found) for found in re.findall(r"<@(\d+)>", text)]


async def put_totals(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, totals: dict[int, int]
) -> None:
    await redis.hset(keyspace.key("xp", guild_id), mapping={str(m): x for m, x in totals.items()})


async def total(redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, member: int) -> int:
    return int(await redis.hget(keyspace.key("xp", guild_id), str(member)) or 0)


async def test_leaderboard_pages_in_order_with_ties_by_user_id(
    sandbox: Sandbox,
    info: SandboxInfo,
    http: aiohttp.ClientSession,
    redis: aioredis.Redis,
    redis_url: str,
    keyspace: Keyspace,
    internal_url: str,
) -> None:
    guild = demo_guild(sandbox)
    names = ["ada", "basil", "clover", "dorian", "elsie", "fennel", "gideon", "harper"]
    names += ["iris", "jasper", "kestrel", "lark"]
    ids = [user_id(sandbox, name) for name in names]
    # Pairs tie: 1200, 1200, 1100, 1100, ...
    totals = {member: 1200 - (index // 2) * 100 for index, member in enumerate(ids)}
    await put_totals(redis, keyspace, guild.id, totals)
    expected = sorted(totals, key=lambda member: (-totals[member], member))

    async with bot_running(sandbox, info, redis_url, keyspace, internal_url):
        _, first = await answer_of(sandbox, await use(http, info, sandbox, "alder", "leaderboard"))
        second_id = await use(
            http, info, sandbox, "alder", "leaderboard", [{"name": "page", "type": 4, "value": 2}]
        )
        _, second = await answer_of(sandbox, second_id)
        too_far = await use(
            http, info, sandbox, "alder", "leaderboard", [{"name": "page", "type": 4, "value": 3}]
        )
        _, refusal = await answer_of(sandbox, too_far)

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
    info: SandboxInfo,
    http: aiohttp.ClientSession,
    redis: aioredis.Redis,
    redis_url: str,
    keyspace: Keyspace,
    internal_url: str,
) -> None:
    guild = demo_guild(sandbox)
    ada, harper, iris = (user_id(sandbox, name) for name in ("ada", "harper", "iris"))
    await put_totals(redis, keyspace, guild.id, {ada: 300, harper: 1500, iris: 300})

    async with bot_running(sandbox, info, redis_url, keyspace, internal_url):
        _, own = await answer_of(sandbox, await use(http, info, sandbox, "ada", "rank"))
        named_id = await use(
            http,
            info,
            sandbox,
            "ada",
            "rank",
            [{"name": "member", "type": USER, "value": str(harper)}],
        )
        _, named = await answer_of(sandbox, named_id)
        newcomer_id = await use(http, info, sandbox, "alder", "rank")
        _, newcomer = await answer_of(sandbox, newcomer_id)

    # Each answer carries the card: a PNG rendered with Pillow, uploaded as a file.
    cards = [card_of(sandbox, message) for message in (own, named, newcomer)]
    for card in cards:
        assert card.format == "PNG"
        assert card.size == (934, 282)
    assert len({card.tobytes() for card in cards}) == 3, "each member gets their own card"
    # The same facts, rendered: the card of `own` is the card core renders for them.
    expected = render_rank_card(RankCard("Ada", 2, 300, 255, 475, 2), None)
    assert cards[0].tobytes() == PIL.Image.open(io.BytesIO(expected)).tobytes()


def card_of(sandbox: Sandbox, message: Message) -> PIL.Image.Image:
    [attachment] = message.attachments
    assert attachment["filename"] == "rank.png"
    content_type, data = sandbox.world.attachment_files[int(attachment["id"])]
    assert content_type == "image/png"
    return PIL.Image.open(io.BytesIO(data))


async def test_xp_set_by_a_manager_changes_the_total_and_is_audited(
    sandbox: Sandbox,
    info: SandboxInfo,
    http: aiohttp.ClientSession,
    redis: aioredis.Redis,
    redis_url: str,
    keyspace: Keyspace,
    internal_url: str,
) -> None:
    guild = demo_guild(sandbox)
    mayor, alder = user_id(sandbox, "mayor"), user_id(sandbox, "alder")

    async with bot_running(sandbox, info, redis_url, keyspace, internal_url):
        set_id = await use(
            http,
            info,
            sandbox,
            "mayor",
            "xp",
            subcommand("set", member=(USER, str(alder)), amount=(INTEGER, 1150)),
        )
        _, reply = await answer_of(sandbox, set_id)
        add_id = await use(
            http,
            info,
            sandbox,
            "mayor",
            "xp",
            subcommand("add", member=(USER, str(alder)), amount=(INTEGER, 50)),
        )
        _, added = await answer_of(sandbox, add_id)
        remove_id = await use(
            http,
            info,
            sandbox,
            "mayor",
            "xp",
            subcommand("remove", member=(USER, str(alder)), amount=(INTEGER, 100)),
        )
        _, removed = await answer_of(sandbox, remove_id)
        too_much = await use(
            http,
            info,
            sandbox,
            "mayor",
            "xp",
            subcommand("add", member=(USER, str(alder)), amount=(INTEGER, MAX_AMOUNT + 1)),
        )
        _, refused = await answer_of(sandbox, too_much)
        reset_id = await use(
            http, info, sandbox, "mayor", "xp", subcommand("reset", member=(USER, str(alder)))
        )
        _, reset = await answer_of(sandbox, reset_id)

    assert reply.ephemeral
    assert reply.content == f"Set <@{alder}>'s XP to 1,150: now 1,150 XP, level 5."
    assert added.content == f"Gave 50 XP to <@{alder}>: now 1,200 XP, level 5."
    assert removed.content == f"Took 100 XP from <@{alder}>: now 1,100 XP, level 4."
    assert refused.ephemeral and "must be between 0 and 1,000,000,000" in refused.content
    assert reset.content == f"Reset <@{alder}>: 0 XP, level 0."
    assert await total(redis, keyspace, guild.id, alder) == 0
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
    info: SandboxInfo,
    http: aiohttp.ClientSession,
    redis: aioredis.Redis,
    redis_url: str,
    keyspace: Keyspace,
    internal_url: str,
) -> None:
    guild = demo_guild(sandbox)
    alder = user_id(sandbox, "alder")
    await put_totals(redis, keyspace, guild.id, {alder: 40})

    async with bot_running(sandbox, info, redis_url, keyspace, internal_url):
        answers = []
        # A plain member, and a moderator (kick, ban, timeout, but not Manage Server).
        for who in ("alder", "ada"):
            interaction_id = await use(
                http,
                info,
                sandbox,
                who,
                "xp",
                subcommand("set", member=(USER, str(alder)), amount=(INTEGER, 9000)),
            )
            answers.append(await answer_of(sandbox, interaction_id))
        guild_reset = await use(http, info, sandbox, "ada", "xp", subcommand("reset-guild"))
        answers.append(await answer_of(sandbox, guild_reset))

    for interaction, message in answers:
        assert interaction.response_type != DEFERRED
        assert message.ephemeral
        assert message.content == (
            "Only members with the Manage Server permission or one of this server's "
            "bot manager roles can change XP, and you have neither here."
        )
        assert not message.components
    assert await total(redis, keyspace, guild.id, alder) == 40
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
    info: SandboxInfo,
    http: aiohttp.ClientSession,
    redis: aioredis.Redis,
    redis_url: str,
    keyspace: Keyspace,
    internal_url: str,
) -> None:
    guild = demo_guild(sandbox)
    alder, ada = user_id(sandbox, "alder"), user_id(sandbox, "ada")
    [moderator] = [role.id for role in guild.roles.values() if role.name == "Moderator"]
    await set_manager_roles(redis, keyspace, guild.id, [moderator])
    set_9000 = subcommand("set", member=(USER, str(alder)), amount=(INTEGER, 9000))
    set_5 = subcommand("set", member=(USER, str(alder)), amount=(INTEGER, 5))

    async with bot_running(sandbox, info, redis_url, keyspace, internal_url):
        # ada is a Moderator (no Manage Server); alder has no staff role.
        _, changed = await answer_of(sandbox, await use(http, info, sandbox, "ada", "xp", set_9000))
        _, shown = await answer_of(
            sandbox, await use(http, info, sandbox, "ada", "config", subcommand("show"))
        )
        _, plain = await answer_of(sandbox, await use(http, info, sandbox, "alder", "xp", set_5))
        # The role is taken off the list: the next command sees the change.
        await set_manager_roles(redis, keyspace, guild.id, [])
        _, later = await answer_of(sandbox, await use(http, info, sandbox, "ada", "xp", set_5))

    assert changed.content == f"Set <@{alder}>'s XP to 9,000: now 9,000 XP, level 13."
    assert shown.ephemeral
    assert f"<@&{moderator}>" in shown.embeds[0]["fields"][-1]["value"]
    for refused in (plain, later):
        assert refused.ephemeral
        assert "bot manager roles can change XP, and you have neither here" in refused.content
    assert await total(redis, keyspace, guild.id, alder) == 9000
    entries = await AuditEntry.filter(guild_id=guild.id, action__startswith="xp.")
    assert [(e.action, e.actor_id) for e in entries] == [("xp.set", ada)]


def buttons_of(message: Message) -> dict[str, str]:
    """Label -> custom_id of the message's buttons."""
    return {
        button["label"]: button["custom_id"]
        for row in message.components
        for button in row["components"]
    }


async def test_reset_guild_waits_for_the_invokers_confirmation(
    sandbox: Sandbox,
    info: SandboxInfo,
    http: aiohttp.ClientSession,
    redis: aioredis.Redis,
    redis_url: str,
    keyspace: Keyspace,
    internal_url: str,
) -> None:
    guild = demo_guild(sandbox)
    members = [user_id(sandbox, name) for name in ("ada", "basil", "clover")]
    await put_totals(redis, keyspace, guild.id, dict.fromkeys(members, 500))
    world = sandbox.world

    async with bot_running(sandbox, info, redis_url, keyspace, internal_url):
        _, question = await answer_of(
            sandbox, await use(http, info, sandbox, "mayor", "xp", subcommand("reset-guild"))
        )
        assert question.ephemeral
        assert "Reset **every** member" in question.content
        buttons = buttons_of(question)
        assert set(buttons) == {"Confirm", "Cancel"}
        assert [await total(redis, keyspace, guild.id, m) for m in members] == [500] * 3

        # Someone else's click is refused privately and changes nothing.
        status, other = await click(http, info, sandbox, "sheriff", question, buttons["Confirm"])
        assert status == 200 and other is not None
        _, refusal = await answer_of(sandbox, other)
        assert refusal.ephemeral
        assert (
            refusal.content
            == f"Only <@{user_id(sandbox, 'mayor')}>, who asked for this, can answer it."
        )
        assert [await total(redis, keyspace, guild.id, m) for m in members] == [500] * 3

        status, confirm = await click(http, info, sandbox, "mayor", question, buttons["Confirm"])
        assert status == 200 and confirm is not None

        def done() -> bool:
            return world.messages[question.id].content.startswith("Reset the whole server")

        await wait_until(done, within=WAIT, what="the question replaced by the result")

    assert world.messages[question.id].content == "Reset the whole server: 3 members back to 0 XP."
    assert not world.messages[question.id].components
    assert [await total(redis, keyspace, guild.id, m) for m in members] == [0, 0, 0]
    [entry] = await AuditEntry.filter(guild_id=guild.id, action="xp.reset_guild")
    assert (entry.actor_id, entry.before) == (user_id(sandbox, "mayor"), {"members": 3})


async def test_reset_guild_confirmation_expires(
    sandbox: Sandbox,
    info: SandboxInfo,
    http: aiohttp.ClientSession,
    redis: aioredis.Redis,
    redis_url: str,
    keyspace: Keyspace,
    internal_url: str,
) -> None:
    guild = demo_guild(sandbox)
    ada = user_id(sandbox, "ada")
    await put_totals(redis, keyspace, guild.id, {ada: 500})
    world = sandbox.world
    async with cluster_running(
        sandbox, info, redis_url, keyspace, internal_url, confirm_seconds=1.0
    ):
        _, question = await answer_of(
            sandbox, await use(http, info, sandbox, "mayor", "xp", subcommand("reset-guild"))
        )
        assert "The buttons work for 1 s." in question.content
        confirm = buttons_of(question)["Confirm"]

        def expired() -> bool:
            return world.messages[question.id].content == "Expired: nothing was changed."

        await wait_until(expired, within=WAIT, what="the question to expire")
        assert not world.messages[question.id].components
        status, _ = await click(http, info, sandbox, "mayor", question, confirm)
        assert status == 404  # the button is gone
    assert await total(redis, keyspace, guild.id, ada) == 500


@contextlib.asynccontextmanager
async def cluster_running(
    sandbox: Sandbox,
    info: SandboxInfo,
    redis_url: str,
    keyspace: Keyspace,
    internal_url: str,
    **services: float,
) -> AsyncIterator[ShardCluster]:
    """`ShardCluster` (what `run_shards` runs) asking the test's HTTP service, with some
    command services replaced."""
    shards = ShardCluster(SETTINGS, redis_url, keyspace, target_of(info), (0,), 1)
    assert shards.command_services is not None
    shards.command_services = dataclasses.replace(
        shards.command_services, api=api_client(internal_url), **services
    )
    await shards.start()
    try:
        await commands_registered(sandbox)
        yield shards
    finally:
        await shards.close()


async def test_slow_answers_are_deferred_and_refusals_stay_private(
    sandbox: Sandbox,
    info: SandboxInfo,
    http: aiohttp.ClientSession,
    redis: aioredis.Redis,
    redis_url: str,
    keyspace: Keyspace,
    internal_url: str,
) -> None:
    guild = demo_guild(sandbox)
    ada = user_id(sandbox, "ada")
    await put_totals(redis, keyspace, guild.id, {ada: 700})

    # Every answer counts as slow: the command defers at once, then fills the response in.
    async with cluster_running(
        sandbox, info, redis_url, keyspace, internal_url, defer_after_seconds=0.0
    ):
        board_id = await use(http, info, sandbox, "alder", "leaderboard")
        deferred, board = await answer_of(sandbox, board_id)
        refused_id = await use(
            http, info, sandbox, "alder", "leaderboard", [{"name": "page", "type": 4, "value": 2}]
        )
        refused, refusal = await answer_of(sandbox, refused_id)

    assert deferred.response_type == DEFERRED
    assert not board.ephemeral
    assert mentioned_ids(board.embeds[0]["description"]) == [ada]
    # After a public deferral the refusal is an ephemeral follow-up, still only for the user.
    assert refused.response_type == DEFERRED
    assert refused.response_message_id is None
    assert refusal.id in refused.followup_message_ids
    assert refusal.ephemeral
    assert refusal.content == "There is no page 2: the leaderboard has only page 1."


async def test_run_shards_answers_through_the_internal_api_without_a_database(
    sandbox: Sandbox,
    info: SandboxInfo,
    http: aiohttp.ClientSession,
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
    alder = user_id(sandbox, "alder")
    async with shards_running(settings, redis_url, keyspace, info):
        await commands_registered(sandbox)
        options = subcommand("add", member=(USER, str(alder)), amount=(INTEGER, 75))
        _, reply = await answer_of(sandbox, await use(http, info, sandbox, "mayor", "xp", options))
        _, shown = await answer_of(
            sandbox, await use(http, info, sandbox, "mayor", "config", subcommand("show"))
        )
        _, refused = await answer_of(
            sandbox, await use(http, info, sandbox, "alder", "config", subcommand("show"))
        )
    assert reply.content == f"Gave 75 XP to <@{alder}>: now 75 XP, level 0."
    entries = await AuditEntry.filter(guild_id=guild.id)
    assert [(e.action, e.actor_id) for e in entries] == [("xp.add", user_id(sandbox, "mayor"))]
    assert shown.ephemeral
    [embed] = shown.embeds
    assert embed["title"] == "Server configuration"
    assert embed["footer"]["text"].startswith("Version 1")
    assert refused.ephemeral
    assert refused.content.startswith("Only members with the Manage Server permission")
    assert "can see the configuration" in refused.content


async def test_an_unreachable_service_is_refused_privately_and_changes_nothing(
    sandbox: Sandbox,
    info: SandboxInfo,
    http: aiohttp.ClientSession,
    redis: aioredis.Redis,
    redis_url: str,
    keyspace: Keyspace,
    internal_url: str,
) -> None:
    guild = demo_guild(sandbox)
    alder = user_id(sandbox, "alder")
    # The config is cached (the feature check passes), but nobody answers at this address.
    await redis.delete(keyspace.key("guild_config", guild.id))
    await api_client(internal_url).config(guild.id)  # fills the Redis config cache
    nowhere = f"http://127.0.0.1:{free_port()}"
    async with cluster_running(sandbox, info, redis_url, keyspace, nowhere):
        options = subcommand("add", member=(USER, str(alder)), amount=(INTEGER, 75))
        _, reply = await answer_of(sandbox, await use(http, info, sandbox, "mayor", "xp", options))
    assert reply.ephemeral
    assert reply.content.startswith("The service is unavailable right now")
    assert await total(redis, keyspace, guild.id, alder) == 0
