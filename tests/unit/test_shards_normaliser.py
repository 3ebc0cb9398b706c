"""The normaliser on real hikari event objects, built by hikari's own event factory from the
gateway payloads the sandbox sends (which follow Discord's shapes)."""

from __future__ import annotations

import datetime
import typing

import hikari
import pytest
from hikari.impl import EventFactoryImpl

from tests.support.fake_shard import FakeShard
from townsquare.core.events import (
    GuildRecord,
    MessageDeleteRecord,
    MessageEditRecord,
    MessageRecord,
    parse_records,
)
from townsquare.core.snowflakes import snowflake_ms
from townsquare.features.xp.domain.jobs import XP_ROUTE
from townsquare.sandbox.gateway.handshake import guild_create
from townsquare.sandbox.intents import Intent
from townsquare.sandbox.world import World, build_world, load_scenario
from townsquare.sandbox.world import payloads as sandbox_payloads
from townsquare.sandbox.world.voice import set_voice_state
from townsquare.shards.cluster import _consume_raw
from townsquare.shards.normaliser import (
    guild_record,
    link_count,
    message_change_record,
    message_record,
    message_record_from_payload,
    voice_record,
)
from townsquare.shards.routes import Route, route_record

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world.models import Channel, Guild


CLOCK = datetime.datetime(2025, 3, 1, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def world() -> World:
    return build_world(load_scenario("demo"), clock=lambda: CLOCK)


@pytest.fixture
def factory(world: World) -> EventFactoryImpl:
    bot = hikari.GatewayBot(
        world.application.bot_token, banner=None, logs=None, suppress_optimization_warning=True
    )
    return EventFactoryImpl(bot)


def the_guild(world: World) -> Guild:
    return next(iter(world.guilds.values()))


def channel(world: World, name: str) -> Channel:
    return next(c for c in the_guild(world).channels.values() if c.name == name)


def member_id(world: World, name: str) -> int:
    user = world.user_named(name)
    assert user is not None
    return user.id


def message_event(
    world: World, factory: EventFactoryImpl, author: int, text: str, **changes: typing.Any
) -> hikari.GuildMessageCreateEvent:
    message = world.create_message(channel(world, "general"), author, text)
    payload = world.gateway_message_payload(message) | changes
    event = factory.deserialize_message_create_event(
        FakeShard(world.application.bot_user_id),  # type: ignore[arg-type]
        payload,
    )
    assert isinstance(event, hikari.GuildMessageCreateEvent)
    return event


def test_a_member_message_becomes_a_message_record(world: World, factory: EventFactoryImpl) -> None:
    guild = the_guild(world)
    ada, harper = member_id(world, "ada"), member_id(world, "harper")
    moderator = next(r for r in guild.roles.values() if r.name == "Moderator")
    content = f"hi <@{harper}> <@&{moderator.id}> @everyone https://a.example/x http://b.example"
    event = message_event(world, factory, ada, content)
    record = message_record(event)
    assert record == MessageRecord(
        guild_id=guild.id,
        channel_id=channel(world, "general").id,
        author_id=ada,
        message_id=event.message.id,
        timestamp_ms=int(CLOCK.timestamp() * 1000),
        role_ids=tuple(guild.members[ada].role_ids),
        length=len(content),
        mention_count=3,
        link_count=2,
        content=None,
    )
    assert guild.id not in record.role_ids  # hikari's implicit @everyone is left out
    assert message_record(event, with_content=True) == record.model_copy(
        update={"content": content}
    )


NOT_A_MEMBERS_MESSAGE = pytest.mark.parametrize(
    ("who", "changes"),
    [
        ("bot", {}),
        ("ada", {"webhook_id": "4242"}),
        ("ada", {"type": hikari.MessageType.GUILD_MEMBER_JOIN.value}),
        ("ada", {"type": hikari.MessageType.CHANNEL_PINNED_MESSAGE.value}),
    ],
    ids=["bot author", "webhook", "member join", "pin notice"],
)
"""Messages the shard drops: a bot's, a webhook's, and system messages."""


@NOT_A_MEMBERS_MESSAGE
def test_bots_webhooks_and_system_messages_are_filtered(
    world: World, factory: EventFactoryImpl, who: str, changes: dict[str, typing.Any]
) -> None:
    author = world.application.bot_user_id if who == "bot" else member_id(world, who)
    assert message_record(message_event(world, factory, author, "text", **changes)) is None


def test_a_reply_counts_as_a_member_message(world: World, factory: EventFactoryImpl) -> None:
    event = message_event(
        world, factory, member_id(world, "ada"), "yes", type=hikari.MessageType.REPLY.value
    )
    assert message_record(event) is not None


def test_without_message_content_length_and_links_are_zero_but_mentions_count(
    world: World, factory: EventFactoryImpl
) -> None:
    harper = member_id(world, "harper")
    event = message_event(
        world, factory, member_id(world, "ada"), f"<@{harper}> https://x.example", content=""
    )
    record = message_record(event)
    assert record is not None
    assert (record.length, record.link_count, record.mention_count) == (0, 0, 1)


def test_voice_state_update_becomes_a_voice_record(world: World, factory: EventFactoryImpl) -> None:
    guild = the_guild(world)
    ada = guild.members[member_id(world, "ada")]
    state = set_voice_state(world, guild, ada, channel(world, "Lounge"), self_mute=True, deaf=True)
    payload = sandbox_payloads.voice_state_payload(state, world.member_payload(ada))
    event = factory.deserialize_voice_state_update_event(
        FakeShard(world.application.bot_user_id),  # type: ignore[arg-type]
        payload,
    )
    record = voice_record(event.state, received_ms=1234)
    assert (record.guild_id, record.user_id, record.channel_id) == (
        guild.id,
        ada.user_id,
        channel(world, "Lounge").id,
    )
    assert (record.self_mute, record.self_deaf, record.mute, record.deaf, record.is_bot) == (
        True,
        False,
        False,
        True,
        False,
    )
    assert record.timestamp_ms == 1234


def test_guild_available_becomes_a_guild_record_with_voice_states(
    world: World, factory: EventFactoryImpl
) -> None:
    guild = the_guild(world)
    intents = Intent.GUILDS | Intent.GUILD_VOICE_STATES | Intent.GUILD_MESSAGES
    payload = guild_create(world, guild, intents, large_threshold=250)
    event = factory.deserialize_guild_available_event(
        FakeShard(world.application.bot_user_id),  # type: ignore[arg-type]
        payload,
    )
    record = guild_record(event.guild, event.voice_states.values(), received_ms=99)
    assert isinstance(record, GuildRecord)
    assert (record.guild_id, record.name, record.owner_id) == (guild.id, guild.name, guild.owner_id)
    assert record.afk_channel_id == channel(world, "AFK").id
    assert {v.user_id for v in record.voice_states} == set(guild.voice_states)
    marlow = next(v for v in record.voice_states if v.user_id == member_id(world, "marlow"))
    assert (marlow.channel_id, marlow.self_mute, marlow.self_deaf) == (
        channel(world, "AFK").id,
        True,
        True,
    )


def test_routed_records_are_what_a_worker_parses_and_carry_content_only_where_asked(
    world: World, factory: EventFactoryImpl
) -> None:
    event = message_event(world, factory, member_id(world, "ada"), "secret text")
    record = message_record(event, with_content=True)
    assert record is not None
    reader = Route("automod", "automod.check_batch", frozenset({"message"}), with_content=True)
    routed = {route.pipeline: data for route, data in route_record(record, (XP_ROUTE, reader))}
    assert routed["xp"]["content"] is None
    assert routed["automod"]["content"] == "secret text"
    assert parse_records([routed["xp"]]) == [record.model_copy(update={"content": None})]
    assert route_record(record, (Route("ai", "ai.x", frozenset({"voice"})),)) == []


def test_snowflake_time_and_link_counting() -> None:
    assert snowflake_ms(175928847299117063) == 1462015105796  # Discord's documented example
    assert link_count("see https://a.b/c, http://x.y and ftp://no or www.no.com") == 2
    assert link_count("") == 0


# ---- raw MESSAGE_CREATE payloads (what the shard normalises, see `cluster.ShardCluster`) ----


def message_payload(
    world: World, author: int, text: str, **changes: typing.Any
) -> dict[str, typing.Any]:
    message = world.create_message(channel(world, "general"), author, text)
    return world.gateway_message_payload(message) | changes


def event_of(factory: EventFactoryImpl, payload: dict[str, typing.Any]) -> typing.Any:
    return factory.deserialize_message_create_event(
        FakeShard(0),  # type: ignore[arg-type]
        payload,
    )


@pytest.mark.parametrize("with_content", [False, True])
@pytest.mark.parametrize(
    "text",
    [
        "plain",
        "",
        "see https://a.example/x and HTTP://B.example/y, <https://c.example>",
        "@everyone look",
    ],
)
def test_a_raw_payload_gives_the_same_record_as_the_hikari_event(
    world: World, factory: EventFactoryImpl, text: str, with_content: bool
) -> None:
    guild = the_guild(world)
    harper = member_id(world, "harper")
    moderator = next(r for r in guild.roles.values() if r.name == "Moderator")
    content = f"{text} <@{harper}> <@{harper}> <@&{moderator.id}>"
    payload = message_payload(world, member_id(world, "ada"), content)
    record = message_record_from_payload(payload, with_content=with_content)
    assert record is not None
    assert record == message_record(event_of(factory, payload), with_content=with_content)
    assert guild.id not in record.role_ids


@NOT_A_MEMBERS_MESSAGE
def test_raw_bots_webhooks_and_system_messages_are_filtered(
    world: World, changes: dict[str, typing.Any], who: str
) -> None:
    author = world.application.bot_user_id if who == "bot" else member_id(world, who)
    assert message_record_from_payload(message_payload(world, author, "text", **changes)) is None


def test_raw_replies_count_and_direct_messages_are_filtered(world: World) -> None:
    ada = member_id(world, "ada")
    reply = message_payload(world, ada, "yes", type=hikari.MessageType.REPLY.value)
    assert message_record_from_payload(reply) is not None
    direct = {k: v for k, v in message_payload(world, ada, "psst").items() if k != "guild_id"}
    direct.pop("member", None)
    assert message_record_from_payload(direct) is None


def test_raw_payload_without_member_or_content(world: World, factory: EventFactoryImpl) -> None:
    harper = member_id(world, "harper")
    payload = message_payload(world, member_id(world, "ada"), f"<@{harper}> https://x.example")
    payload = {k: v for k, v in payload.items() if k != "member"} | {"content": ""}
    record = message_record_from_payload(payload)
    assert record is not None
    assert record == message_record(event_of(factory, payload))
    assert (record.role_ids, record.length, record.link_count, record.mention_count) == (
        (),
        0,
        0,
        1,
    )


def test_message_payloads_are_taken_inside_hikaris_dispatch(world: World) -> None:
    bot = hikari.GatewayBot(
        world.application.bot_token, banner=None, logs=None, suppress_optimization_warning=True
    )
    seen: list[tuple[int, str]] = []

    def handler(
        shard: hikari.api.GatewayShard, event_name: str, payload: typing.Mapping[str, typing.Any]
    ) -> None:
        assert event_name == "MESSAGE_CREATE"
        seen.append((shard.id, payload["content"]))
        if payload["content"] == "boom":
            raise RuntimeError("a bad payload")

    _consume_raw(bot, {"MESSAGE_CREATE": handler})
    manager = bot.event_manager
    assert isinstance(manager, hikari.impl.EventManagerImpl)  # the same object, subclassed
    ada = member_id(world, "ada")
    shard = FakeShard(world.application.bot_user_id)
    for text in ("hello", "boom"):  # an error in the handler never reaches the gateway loop
        manager.consume_raw_event("MESSAGE_CREATE", shard, message_payload(world, ada, text))  # type: ignore[arg-type]
    assert seen == [(0, "hello"), (0, "boom")]


def test_edits_and_deletions_become_records() -> None:
    update = {"id": "11", "channel_id": "22", "guild_id": "33", "content": "new text"}
    edited = message_change_record("MESSAGE_UPDATE", update, 5, with_content=True)
    assert edited == MessageEditRecord(
        guild_id=33, channel_id=22, message_id=11, content="new text", timestamp_ms=5
    )
    hidden = message_change_record("MESSAGE_UPDATE", update, 5, with_content=False)
    assert hidden is not None and hidden.content is None
    preview = {"id": "11", "channel_id": "22", "guild_id": "33", "embeds": []}
    assert message_change_record("MESSAGE_UPDATE", preview, 5, with_content=True) is None
    by_bot = update | {"author": {"id": "9", "bot": True}}
    assert message_change_record("MESSAGE_UPDATE", by_bot, 5, with_content=True) is None
    deleted = {"id": "11", "channel_id": "22", "guild_id": "33"}
    bulk = {"ids": ["11", "12"], "channel_id": "22", "guild_id": "33"}
    assert message_change_record("MESSAGE_DELETE", deleted, 5, with_content=True) == (
        MessageDeleteRecord(guild_id=33, channel_id=22, message_ids=(11,), timestamp_ms=5)
    )
    assert message_change_record("MESSAGE_DELETE_BULK", bulk, 5, with_content=True) == (
        MessageDeleteRecord(guild_id=33, channel_id=22, message_ids=(11, 12), timestamp_ms=5)
    )
    direct = {"id": "11", "channel_id": "22"}
    assert message_change_record("MESSAGE_DELETE", direct, 5, with_content=True) is None
