"""Shard-side throughput: message events normalised and published to the xp stream per second.

Ours: each raw MESSAGE_CREATE payload goes through `message_record_from_payload`, `route_record`
and `BatchPublisher.submit` (what the shard's MESSAGE_CREATE handler does), while the
publisher's background task XADDs batches (`shards.batch_size` / `batch_ms` from
settings.yaml) to a real Redis, one stream per pipeline a message is routed to (xp, automod,
...), as the shard process does.
Baseline, in the same run: the same normalisation and routing, then one awaited XADD per
route of each event (one job per record, a round trip each). The payloads are the sandbox's
MESSAGE_CREATE payloads (each checked to give the same record as hikari's own event for it);
the gateway is not involved.

Redis: `TOWNSQUARE_TEST_REDIS_URL` if set, else an embedded Valkey in a temporary directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import shutil
import tempfile
import time
import typing
import uuid
from pathlib import Path

import hikari
import redis.asyncio as aioredis
from hikari.impl import EventFactoryImpl

from tests.support.fake_shard import FakeShard
from townsquare.core.events import encode_job
from townsquare.core.keyspace import Keyspace
from townsquare.core.settings import load_settings
from townsquare.sandbox.world import build_world, load_scenario
from townsquare.shards.normaliser import message_record, message_record_from_payload
from townsquare.shards.publisher import BatchPublisher, RedisStreamTransport
from townsquare.shards.routes import feature_routes, route_record

EVENTS = 50_000
DISTINCT = 2_000
CHUNK = 500
"""Events handled between two yields to the event loop, as a busy gateway delivers them."""


def make_events() -> list[dict[str, typing.Any]]:
    clock = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    world = build_world(load_scenario("demo"), clock=lambda: clock)
    guild = next(iter(world.guilds.values()))
    general = next(c for c in guild.channels.values() if c.name == "general")
    humans = [m for m in guild.members if m != world.application.bot_user_id]
    bot = hikari.GatewayBot(
        world.application.bot_token, banner=None, logs=None, suppress_optimization_warning=True
    )
    factory = EventFactoryImpl(bot)
    shard = FakeShard(world.application.bot_user_id)
    events = []
    for n in range(DISTINCT):
        message = world.create_message(
            general, humans[n % len(humans)], f"message {n} see https://example.com"
        )
        payload = world.gateway_message_payload(message)
        event = factory.deserialize_message_create_event(
            shard,  # type: ignore[arg-type]
            payload,
        )
        assert isinstance(event, hikari.GuildMessageCreateEvent)
        assert message_record(event) == message_record_from_payload(payload)
        events.append(payload)
    return events


async def ours(
    redis: aioredis.Redis, keyspace: Keyspace, events: list[dict[str, typing.Any]]
) -> float:
    settings = load_settings(env_file=None)
    routes = feature_routes()
    maxlens = {route.pipeline: settings.tasks.pipeline(route.pipeline).maxlen for route in routes}
    publisher = BatchPublisher(
        RedisStreamTransport(redis, keyspace, maxlens),
        batch_size=settings.shards.batch_size,
        batch_ms=settings.shards.batch_ms,
        buffer_limit=settings.shards.buffer_limit,
    )
    runner = asyncio.create_task(publisher.run())
    submitted = 0
    started = time.perf_counter()
    for index in range(EVENTS):
        record = message_record_from_payload(events[index % DISTINCT])
        assert record is not None
        for route, data in route_record(record, routes):
            publisher.submit(route.pipeline, data, task_name=route.task_name)
            submitted += 1
        if index % CHUNK == CHUNK - 1:
            await asyncio.sleep(0)
    publisher.close()
    await runner
    elapsed = time.perf_counter() - started
    assert publisher.published == submitted, (publisher.published, submitted)
    return EVENTS / elapsed


async def baseline(
    redis: aioredis.Redis, keyspace: Keyspace, events: list[dict[str, typing.Any]]
) -> float:
    routes = feature_routes()
    count = EVENTS // 5  # one round trip each: a fifth of the events is plenty to time
    started = time.perf_counter()
    for index in range(count):
        record = message_record_from_payload(events[index % DISTINCT])
        assert record is not None
        for route, data in route_record(record, routes):
            job = encode_job(route.task_name, [data])
            key = keyspace.key("stream", route.pipeline)
            await redis.xadd(key, {"data": job}, maxlen=1_000_000, approximate=True)
    return count / (time.perf_counter() - started)


@contextlib.contextmanager
def redis_server() -> typing.Iterator[str]:
    if url := os.environ.get("TOWNSQUARE_TEST_REDIS_URL"):
        yield url
        return
    from townsquare.core.embedded import start_or_attach_valkey

    directory = Path(tempfile.mkdtemp(prefix="townsquare-bench-valkey-"))
    server = start_or_attach_valkey(directory / "valkey")
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


async def run(url: str) -> dict[str, float]:
    events = make_events()
    redis = aioredis.Redis.from_url(url)
    rates = {}
    try:
        for name, bench in (("baseline", baseline), ("ours", ours)):
            keyspace = Keyspace(f"bench{uuid.uuid4().hex[:8]}")
            try:
                rates[name] = await bench(redis, keyspace, events)
            finally:
                pipelines = {route.pipeline for route in feature_routes()}
                await redis.delete(*(keyspace.key("stream", p) for p in pipelines))
    finally:
        await redis.aclose()
    return rates


def main() -> None:
    with redis_server() as url:
        rates = asyncio.run(run(url))
    print(
        f"batched: {rates['ours']:,.0f} messages/s; "
        f"one XADD per record: {rates['baseline']:,.0f} messages/s"
    )
    print(
        json.dumps(
            {
                "benchmark": "shard_publish_throughput",
                "value": round(rates["ours"]),
                "unit": "messages/s",
                "baseline": round(rates["baseline"]),
                "ratio": round(rates["ours"] / rates["baseline"], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
