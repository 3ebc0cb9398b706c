"""Gateway positions marked after each dispatch, through hikari's real event manager: a mark
never passes a record its dispatch (or an earlier one) has yet to submit; a leave's record
carries its own dispatch's position."""

from __future__ import annotations

import datetime
import json

import hikari
from pydantic import SecretStr

from tests.support.waiting import wait_until
from townsquare.core.discord import DiscordTarget
from townsquare.core.events import MemberLeaveRecord, parse_records
from townsquare.core.keyspace import Keyspace
from townsquare.core.settings import load_settings
from townsquare.sandbox.world import World, build_world, load_scenario
from townsquare.sandbox.world import payloads as sandbox_payloads
from townsquare.sandbox.world.voice import set_voice_state
from townsquare.shards.cluster import ShardCluster, ShardSet
from townsquare.shards.resume import GatewaySession, ResumableShard

CLOCK = datetime.datetime(2025, 3, 1, 12, 0, tzinfo=datetime.UTC)


def cluster_for(world: World, environ: dict[str, str] | None = None) -> ShardCluster:
    target = DiscordTarget(
        rest_url="http://127.0.0.1:9/api/v10",
        token=SecretStr(world.application.bot_token),
        application_id=world.application.id,
        is_sandbox=True,
    )
    settings = load_settings(environ=environ or {}, env_file=None)
    # Nothing connects: the test hands dispatches to hikari's event manager itself.
    return ShardCluster(
        settings, "redis://127.0.0.1:9/0", Keyspace("t"), ShardSet(target, (0,), 1), commands=False
    )


def shard_of(cluster: ShardCluster, world: World) -> ResumableShard:
    bot = cluster.bot
    return ResumableShard(
        event_manager=bot.event_manager,
        event_factory=bot.event_factory,
        intents=bot.intents,
        http_settings=bot.http_settings,
        proxy_settings=bot.proxy_settings,
        token=world.application.bot_token,
        url="ws://127.0.0.1:9/gateway",
    )


def at(shard: ResumableShard, seq: int, bot_id: int) -> ResumableShard:
    """The shard as hikari leaves it while it hands over the dispatch numbered `seq`."""
    shard.seed(GatewaySession("s", "ws://127.0.0.1:9/gateway", seq, bot_id))
    return shard


async def test_a_listener_dispatch_defers_its_mark_and_every_later_one() -> None:
    world = build_world(load_scenario("demo"), clock=lambda: CLOCK)
    guild = next(iter(world.guilds.values()))
    ada = next(m for m in guild.members.values() if world.users[m.user_id].username == "ada")
    general = next(c for c in guild.channels.values() if c.name == "general")
    lounge = next(c for c in guild.channels.values() if c.name == "Lounge")
    cluster = cluster_for(world)
    bot = cluster.bot
    bot_id = world.application.bot_user_id
    shard = shard_of(cluster, world)
    manager = bot.event_manager
    assert isinstance(manager, hikari.impl.EventManagerImpl)
    publisher = cluster.publisher

    state = set_voice_state(world, guild, ada, lounge)
    voice = sandbox_payloads.voice_state_payload(state, world.member_payload(ada))
    manager.consume_raw_event("VOICE_STATE_UPDATE", at(shard, 5, bot_id), voice)
    # hikari's listener has not run yet: its record is not submitted, so no mark may pass.
    assert publisher.backlog == 0
    assert 0 not in publisher.delivered_marks

    message = world.gateway_message_payload(world.create_message(general, ada.user_id, "hi"))
    manager.consume_raw_event("MESSAGE_CREATE", at(shard, 6, bot_id), message)
    # The message's records (one per pipeline that takes messages), submitted inside the
    # dispatch.
    per_message = sum("message" in route.kinds for route in cluster.routes)
    assert publisher.backlog == per_message
    assert 0 not in publisher.delivered_marks  # queued behind the voice dispatch's mark

    await wait_until(
        lambda: publisher.backlog == per_message + 1, within=5, what="the voice listener"
    )
    await wait_until(lambda: not cluster._deferred_marks[0], within=5, what="the marks")
    assert 0 not in publisher.delivered_marks  # both records still wait for Redis
    assert publisher.take()
    publisher.settle(delivered=True)
    assert publisher.delivered_marks[0] == ("s", "ws://127.0.0.1:9/gateway", 6, bot_id)
    await cluster.redis.aclose()


async def test_a_leave_carries_its_own_dispatchs_gateway_position() -> None:
    world = build_world(load_scenario("demo"), clock=lambda: CLOCK)
    guild = next(iter(world.guilds.values()))
    ada = next(m for m in guild.members.values() if world.users[m.user_id].username == "ada")
    general = next(c for c in guild.channels.values() if c.name == "general")
    cluster = cluster_for(world, {"TOWNSQUARE__DISCORD__SERVER_MEMBERS_INTENT": "true"})
    manager = cluster.bot.event_manager
    assert isinstance(manager, hikari.impl.EventManagerImpl)
    shard, bot_id = shard_of(cluster, world), world.application.bot_user_id

    leave = {
        "guild_id": str(guild.id),
        "user": sandbox_payloads.user_payload(world.users[ada.user_id]),
    }
    manager.consume_raw_event("GUILD_MEMBER_REMOVE", at(shard, 7, bot_id), leave)
    # The shard reads on before any listener task runs: the leave keeps its own sequence.
    message = world.gateway_message_payload(world.create_message(general, ada.user_id, "hi"))
    manager.consume_raw_event("MESSAGE_CREATE", at(shard, 8, bot_id), message)
    cluster.publisher.close()  # every batch due now
    leaves = [
        record
        for _, job in cluster.publisher.take()
        for record in parse_records(json.loads(job)["args"][0])
        if isinstance(record, MemberLeaveRecord)
    ]
    assert [(r.user_id, r.gateway_session, r.gateway_seq) for r in leaves] == [
        (ada.user_id, "s", 7)
    ]
    await cluster.redis.aclose()
