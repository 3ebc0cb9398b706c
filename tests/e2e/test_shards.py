"""End to end: the sandbox, the real hikari `GatewayBot` run by `run_shards`, real Redis.

Messages, voice changes and guilds injected at the sandbox arrive in the `xp` stream as batched
`xp.process_batch` jobs that `parse_records` accepts; bots, webhooks and system messages do not;
each shard's health hash appears and expires; a guild reaches exactly one of several shards.
"""

from __future__ import annotations

import asyncio
import dataclasses
import typing

import hikari
import pytest
from pydantic import SecretStr

from tests.support.sandbox import post_message, target_of
from tests.support.shards import (
    WAIT,
    of_kind,
    shard_settings,
    shards_running,
    wait_for_records,
    xp_batches,
    xp_records,
)
from tests.support.waiting import wait_until
from tests.support.world import channel_named, demo_guild, user_named
from townsquare.core.events import GuildRecord, MessageRecord, VoiceStateRecord
from townsquare.core.snowflakes import snowflake_ms
from townsquare.sandbox import Sandbox, SandboxSettings
from townsquare.sandbox.gateway import GatewaySettings
from townsquare.sandbox.intents import Intent
from townsquare.sandbox.world import Dispatch, Scenario, load_scenario
from townsquare.shards import parse_shard_selection, resolve_shard_selection, run_shards
from townsquare.shards.health import HEALTH_FIELDS
from townsquare.shards.routes import feature_routes

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import aiohttp
    import redis.asyncio as aioredis

    from townsquare.sandbox import SandboxInfo


async def set_voice(http: aiohttp.ClientSession, info: SandboxInfo, **body: object) -> None:
    async with http.post(f"{info.control_url}/voice", json=body) as response:
        assert response.status == 200, await response.text()


async def test_member_messages_arrive_in_the_xp_stream_as_batches(
    sandbox: Sandbox, info: SandboxInfo, http: aiohttp.ClientSession, redis, redis_url, keyspace
) -> None:
    settings = shard_settings(batch_size=5, batch_ms=300)
    guild = demo_guild(sandbox)
    general = channel_named(guild, "general")
    authors = [user_named(sandbox, name) for name in ("ada", "harper", "alder")]
    moderator = next(r for r in guild.roles.values() if r.name == "Moderator")
    contents = [
        "hello there",
        f"<@{authors[1]}> and <@&{moderator.id}> see https://example.com and http://a.b/c",
        "@everyone look",
    ]
    async with shards_running(settings, redis_url, keyspace, info) as task:
        await wait_for_records(redis, keyspace, GuildRecord, lambda _: True, 1, task)
        sent = {}
        for index in range(12):
            author, content = authors[index % 3], contents[index % 3]
            sent[await post_message(http, info, general, author, content)] = (author, content)
        messages = await wait_for_records(
            redis, keyspace, MessageRecord, lambda _: True, len(sent), task
        )
    assert sorted(r.message_id for r in messages) == sorted(sent)
    for record in messages:
        author, content = sent[record.message_id]
        assert record.author_id == author
        assert record.guild_id == guild.id
        assert record.channel_id == general
        assert record.timestamp_ms == snowflake_ms(record.message_id)
        assert set(record.role_ids) == set(guild.members[author].role_ids)
        assert record.length == len(content)
        assert record.content is None
        assert (record.mention_count, record.link_count) == {
            contents[0]: (0, 0),
            contents[1]: (2, 2),
            contents[2]: (1, 0),
        }[content]
    batches = [
        [r for r in b if isinstance(r, MessageRecord)] for b in await xp_batches(redis, keyspace)
    ]
    sizes = [len(b) for b in batches if b]
    # Filled by size, not one entry per message: a batch holds 5 records, and each message is
    # one record per pipeline that takes messages (the XP stream gets its share of each batch).
    per_message = sum("message" in route.kinds for route in feature_routes())
    assert max(sizes) == -(-5 // per_message), sizes
    assert all(len(b) <= 5 for b in await xp_batches(redis, keyspace))


async def test_bot_webhook_and_system_messages_are_filtered_at_the_shard(
    sandbox: Sandbox, info: SandboxInfo, http: aiohttp.ClientSession, redis, redis_url, keyspace
) -> None:
    settings = shard_settings(batch_size=50, batch_ms=20)
    guild = demo_guild(sandbox)
    general = channel_named(guild, "general")
    world = sandbox.world
    human = user_named(sandbox, "ada")
    async with shards_running(settings, redis_url, keyspace, info) as task:
        await wait_for_records(redis, keyspace, GuildRecord, lambda _: True, 1, task)
        channel = guild.channels[general]
        bot_message = world.create_message(channel, world.application.bot_user_id, "I am a bot")
        template = world.gateway_message_payload(world.create_message(channel, human, "model"))
        model_id = int(template["id"])
        forged = []
        for extra in (
            {"webhook_id": "4242", "author": {**template["author"], "id": "4242"}},
            {"type": 7},  # a member-join system message
        ):
            payload = {**template, "id": str(world.snowflakes.next()), **extra}
            if "webhook_id" in extra:
                payload.pop("member")
            forged.append(int(payload["id"]))
            world.emit(Dispatch("MESSAGE_CREATE", guild.id, Intent.GUILD_MESSAGES, payload, True))
        marker = await post_message(http, info, general, human, "after the others")
        await wait_for_records(
            redis, keyspace, MessageRecord, lambda r: r.message_id == marker, 1, task
        )
    seen = {r.message_id for r in of_kind(await xp_records(redis, keyspace), MessageRecord)}
    assert seen == {model_id, marker}
    assert bot_message.id not in seen
    assert not seen & set(forged)


async def test_voice_changes_and_ready_voice_states_become_records(
    sandbox: Sandbox, info: SandboxInfo, http: aiohttp.ClientSession, redis, redis_url, keyspace
) -> None:
    settings = shard_settings(batch_size=50, batch_ms=20)
    guild = demo_guild(sandbox)
    lounge, afk = channel_named(guild, "Lounge"), channel_named(guild, "AFK")
    ada = user_named(sandbox, "ada")
    async with shards_running(settings, redis_url, keyspace, info) as task:
        (guild_record,) = await wait_for_records(
            redis, keyspace, GuildRecord, lambda _: True, 1, task
        )
        await set_voice(http, info, user_id=str(ada), channel_id=str(lounge))
        await set_voice(http, info, user_id=str(ada), self_mute=True)
        await set_voice(http, info, user_id=str(ada), mute=True, deaf=True)
        await set_voice(http, info, user_id=str(ada), channel_id=None)
        changes = await wait_for_records(
            redis, keyspace, VoiceStateRecord, lambda r: r.user_id == ada, 4, task
        )
    assert guild_record.afk_channel_id == afk
    assert guild_record.owner_id == guild.owner_id
    assert guild_record.name == guild.name
    in_voice = {v.user_id: v for v in guild_record.voice_states}
    assert set(in_voice) == {user_named(sandbox, n) for n in ("dorian", "harper", "lark", "marlow")}
    assert in_voice[user_named(sandbox, "harper")].self_mute
    marlow = in_voice[user_named(sandbox, "marlow")]
    assert (marlow.channel_id, marlow.self_deaf) == (afk, True)
    observed = [(r.channel_id, r.self_mute, r.mute, r.deaf, r.is_bot) for r in changes]
    assert observed == [
        (lounge, False, False, False, False),
        (lounge, True, False, False, False),
        (lounge, True, True, True, False),
        (None, True, True, True, False),
    ]
    assert all(r.guild_id == guild.id and r.timestamp_ms > 0 for r in changes)


async def test_health_hash_is_written_and_expires_after_the_shard_stops(
    sandbox: Sandbox, info: SandboxInfo, http: aiohttp.ClientSession, redis, redis_url, keyspace
) -> None:
    settings = shard_settings(health_interval_seconds=0.2)
    key = keyspace.key("shard_health", 0)
    general = channel_named(demo_guild(sandbox), "general")

    async def health() -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in (await redis.hgetall(key)).items()}

    async with shards_running(settings, redis_url, keyspace, info) as task:
        await wait_for_records(redis, keyspace, GuildRecord, lambda _: True, 1, task)
        await post_message(http, info, general, user_named(sandbox, "ada"), "hi")

        async def connected_with_an_event() -> bool:
            fields = await health()
            return fields.get("state") == "connected" and fields.get("last_event_at", "") != ""

        await wait_until(connected_with_an_event, within=WAIT, what="health: connected")
        fields = await health()
        live_sessions = {s["session_id"] for s in await sessions(http, info)}
        assert 0 < await redis.ttl(key) <= 15
    assert set(fields) == set(HEALTH_FIELDS)
    assert (fields["shard_id"], fields["shard_count"], fields["guilds"]) == ("0", "1", "1")
    assert fields["session_id"] in live_sessions
    assert (fields["resumes"], fields["reconnects"], fields["drops"]) == ("0", "0", "0")
    assert fields["latency_ms"] == "" or float(fields["latency_ms"]) >= 0
    assert float(fields["events_per_second"]) >= 0
    assert int(fields["last_event_at"]) <= int(fields["updated_at"])
    assert (await health())["state"] == "stopped"
    await wait_until(
        lambda: _gone(redis, key), within=20, interval=0.25, what="health hash expired"
    )


async def _gone(redis: aioredis.Redis, key: str) -> bool:
    return not await redis.exists(key)


async def sessions(http: aiohttp.ClientSession, info: SandboxInfo) -> list[dict[str, typing.Any]]:
    async with http.get(f"{info.control_url}/world") as response:
        return typing.cast("list[dict[str, typing.Any]]", (await response.json())["sessions"])


def four_guild_scenario() -> Scenario:
    demo = load_scenario("demo").model_dump()
    small = {
        "owner": "mayor",
        "everyone_permissions": ["VIEW_CHANNEL", "SEND_MESSAGES"],
        "roles": [{"key": "townsquare", "name": "Townsquare", "bot": True}],
        "channels": [{"key": "general", "type": "text", "name": "general"}],
        "members": {"mayor": [], "ada": []},
    }
    guilds = [small | {"name": f"Guild {n}"} for n in range(8)]
    return Scenario.model_validate(demo | {"guilds": guilds})


@pytest.fixture
async def multi_guild_sandbox() -> AsyncIterator[Sandbox]:
    settings = SandboxSettings(gateway=GatewaySettings(max_concurrency=16))
    server = Sandbox(scenario=four_guild_scenario(), settings=settings)
    async with server:
        yield server


async def test_each_guild_reaches_exactly_one_shard_with_two_of_four_per_process(
    multi_guild_sandbox: Sandbox, http: aiohttp.ClientSession, redis, redis_url, keyspace
) -> None:
    sandbox, info = multi_guild_sandbox, multi_guild_sandbox.info
    settings = shard_settings(batch_size=50, batch_ms=20, health_interval_seconds=0.2)
    guilds = list(sandbox.world.guilds.values())
    shard_of = {g.id: (g.id >> 22) % 4 for g in guilds}
    assert {shard_of[g.id] < 2 for g in guilds} == {True, False}, "guilds on both halves"
    ada = user_named(sandbox, "ada")
    async with (
        shards_running(settings, redis_url, keyspace, info, (0, 1), 4) as first,
        shards_running(settings, redis_url, keyspace, info, (2, 3), 4) as second,
    ):
        await wait_for_records(redis, keyspace, GuildRecord, lambda _: True, len(guilds), first)
        sent = [
            await post_message(http, info, channel_named(g, "general"), ada, g.name) for g in guilds
        ]
        await wait_for_records(redis, keyspace, MessageRecord, lambda _: True, len(sent), second)

        health: dict[int, dict[bytes, bytes]] = {}

        async def every_shard_reports() -> bool:
            for shard in range(4):
                health[shard] = await redis.hgetall(keyspace.key("shard_health", shard))
            return all(h.get(b"state") == b"connected" for h in health.values()) and sum(
                int(h[b"guilds"]) for h in health.values()
            ) == len(guilds)

        await wait_until(every_shard_reports, within=WAIT, what="health of shards 0-3")
    records = await xp_records(redis, keyspace)
    guild_records = [r.guild_id for r in of_kind(records, GuildRecord)]
    assert sorted(guild_records) == sorted(g.id for g in guilds)  # each guild once
    assert sorted(r.message_id for r in of_kind(records, MessageRecord)) == sorted(sent)
    for shard, fields in health.items():
        expected = sum(1 for g in guilds if shard_of[g.id] == shard)
        assert int(fields[b"guilds"]) == expected, (shard, fields)
        assert fields[b"shard_count"] == b"4"


async def test_shard_count_comes_from_the_options_the_settings_or_discord(
    info: SandboxInfo,
) -> None:
    target = target_of(info)
    asked = await resolve_shard_selection(parse_shard_selection(), shard_settings(), target)
    assert asked == ((0,), 1)  # GET /gateway/bot: one shard for the demo's one guild
    configured = shard_settings(shard_count=4)
    assert await resolve_shard_selection(
        parse_shard_selection(cluster=1, clusters=2), configured, target
    ) == ((2, 3), 4)
    assert await resolve_shard_selection(
        parse_shard_selection(shard_ids="1", shard_count=2), configured, target
    ) == ((1,), 2)


async def test_a_bad_token_stops_run_shards_with_discords_error(
    info: SandboxInfo, redis, redis_url, keyspace
) -> None:
    target = dataclasses.replace(target_of(info), token=SecretStr(info.bot_token + "x"))
    with pytest.raises(hikari.UnauthorizedError):
        await run_shards(
            shard_settings(), redis_url, keyspace, target, (0,), 1, shutdown=asyncio.Event()
        )


async def test_a_dropped_connection_is_resumed_counted_in_health_and_loses_nothing(
    sandbox: Sandbox, info: SandboxInfo, http: aiohttp.ClientSession, redis, redis_url, keyspace
) -> None:
    settings = shard_settings(batch_size=50, batch_ms=20, health_interval_seconds=0.2)
    general = channel_named(demo_guild(sandbox), "general")
    ada = user_named(sandbox, "ada")
    key = keyspace.key("shard_health", 0)
    async with shards_running(settings, redis_url, keyspace, info) as task:
        await wait_for_records(redis, keyspace, GuildRecord, lambda _: True, 1, task)
        async with http.post(f"{info.control_url}/gateway/drop", json={}) as response:
            assert (await response.json())["dropped"] == 1
        missed = await post_message(http, info, general, ada, "while disconnected")
        await wait_for_records(
            redis, keyspace, MessageRecord, lambda r: r.message_id == missed, 1, task
        )

        async def resumed() -> bool:
            fields = await redis.hgetall(key)
            return (fields.get(b"resumes"), fields.get(b"reconnects"), fields.get(b"state")) == (
                b"1",
                b"1",
                b"connected",
            )

        await wait_until(resumed, within=WAIT, what="health counting one resume")
    messages = of_kind(await xp_records(redis, keyspace), MessageRecord)
    assert [r.message_id for r in messages] == [missed]
