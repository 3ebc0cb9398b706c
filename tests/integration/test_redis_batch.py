"""`CommandBatcher` against real Redis: shared round trips, each caller's own reply or error."""

from __future__ import annotations

import asyncio
import socket
import typing

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, ResponseError

from townsquare.core.redis_batch import CommandBatcher
from townsquare.features.apikeys.domain.gate import RATE_FAMILY

if typing.TYPE_CHECKING:
    from townsquare.core.keyspace import Keyspace

pytestmark = pytest.mark.integration


async def test_commands_of_one_loop_turn_share_a_pipeline_and_keep_their_order(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    batcher = CommandBatcher(redis)
    counter = keyspace.key(RATE_FAMILY, "counter")
    replies = await asyncio.gather(*(batcher.execute_command("INCR", counter) for _ in range(50)))
    assert replies == list(range(1, 51))  # issued in this order, run in this order
    assert batcher.pipelines_sent == 1
    assert int(await redis.get(counter)) == 50


async def test_each_caller_gets_its_own_error(redis: aioredis.Redis, keyspace: Keyspace) -> None:
    batcher = CommandBatcher(redis)
    text, number = keyspace.key(RATE_FAMILY, "text"), keyspace.key(RATE_FAMILY, "number")
    await redis.set(text, "not a number")
    results = await asyncio.gather(
        batcher.execute_command("INCR", number),
        batcher.execute_command("INCR", text),  # WRONGTYPE-like: not an integer
        batcher.execute_command("GET", text),
        return_exceptions=True,
    )
    assert results[0] == 1
    assert isinstance(results[1], ResponseError)
    assert "not an integer" in str(results[1])
    assert results[2] == b"not a number"


async def test_arguments_that_cannot_be_sent_fail_only_their_caller(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    batcher = CommandBatcher(redis)
    counter = keyspace.key(RATE_FAMILY, "mixed")
    results = await asyncio.gather(
        batcher.execute_command("INCR", counter),
        batcher.execute_command("SET", counter, None),
        batcher.execute_command("INCR", counter),
        return_exceptions=True,
    )
    assert results[0] == 1 and results[2] == 2
    assert isinstance(results[1], DataError)
    assert batcher.pipelines_sent == 1


async def test_more_than_a_batch_is_split_and_all_answered(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    batcher = CommandBatcher(redis, max_batch=8)
    counter = keyspace.key(RATE_FAMILY, "split")
    replies = await asyncio.gather(*(batcher.execute_command("INCR", counter) for _ in range(20)))
    assert sorted(replies) == list(range(1, 21))
    assert batcher.pipelines_sent == 3


async def test_commands_in_later_turns_go_in_later_pipelines(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    batcher = CommandBatcher(redis)
    counter = keyspace.key(RATE_FAMILY, "sequential")
    for expected in range(1, 4):
        assert await batcher.execute_command("INCR", counter) == expected
    assert batcher.pipelines_sent == 3


async def test_a_failed_connection_reaches_every_caller() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    client = aioredis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    batcher = CommandBatcher(client)
    try:
        results = await asyncio.gather(
            *(batcher.execute_command("PING") for _ in range(3)), return_exceptions=True
        )
    finally:
        await client.aclose()
    assert all(isinstance(result, RedisConnectionError) for result in results), results


async def test_with_a_cap_commands_wait_for_a_pipeline_in_flight_and_go_together(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    batcher = CommandBatcher(redis, max_in_flight=1)
    counter, empty = keyspace.key(RATE_FAMILY, "capped"), keyspace.key(RATE_FAMILY, "empty")
    # The first pipeline stays out for a second: BLPOP on an empty list, in Redis.
    out = asyncio.ensure_future(batcher.execute_command("BLPOP", empty, 1))

    async def later(turns: int) -> typing.Any:
        for _ in range(turns):
            await asyncio.sleep(0)  # a later loop turn, while the first pipeline is out
        return await batcher.execute_command("INCR", counter)

    replies = await asyncio.gather(*(later(turn) for turn in range(1, 6)))
    assert await out is None
    assert sorted(replies) == list(range(1, 6))
    assert batcher.pipelines_sent == 2, "the later turns waited and shared one pipeline"


@pytest.mark.parametrize("redis_url", ["cluster"], indirect=True)
async def test_on_a_cluster_each_command_goes_to_its_keys_node(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    """A cluster pipeline refuses scripts (a giveaway click is one): sent one by one."""
    batcher = CommandBatcher(redis)
    keys = [keyspace.key("xp", guild) for guild in (1, 2, 3, 4)]
    await asyncio.gather(*(batcher.execute_command("SET", key, key) for key in keys))
    script = "return redis.call('GET', KEYS[1])"
    replies = await asyncio.gather(*(batcher.execute_command("EVAL", script, 1, k) for k in keys))
    assert replies == [key.encode() for key in keys]
    assert batcher.pipelines_sent == 0
    with pytest.raises(DataError):
        await batcher.execute_command("SET", keys[0], None)
