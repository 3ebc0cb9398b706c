"""The clients `connect_redis` makes, on a single Redis and on the cluster."""

from __future__ import annotations

import asyncio
import typing

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.support.redis_cluster import ON_CLUSTER_TOO
from townsquare.core.redis_client import TownsquareConnection, connect_redis

if typing.TYPE_CHECKING:
    from townsquare.core.keyspace import Keyspace

pytestmark = [pytest.mark.integration, ON_CLUSTER_TOO]


async def test_a_new_client_s_first_commands_at_once_all_reach_their_slot(
    redis_url: str, keyspace: Keyspace
) -> None:
    # More than redis-py's default pool (100, then MaxConnectionsError), on a new client:
    # redis-py 8.1's cluster client sent the commands that came before it knew the slots to
    # random nodes; the MOVED replies made it close every connection, those of the other
    # commands in flight too, and some failed with asyncio's TypeError.
    client = connect_redis(redis_url)
    idle = keyspace.key("ping", "never-pushed")
    try:
        replies = await asyncio.gather(*(client.blpop([idle], timeout=0.1) for _ in range(150)))
    finally:
        await client.aclose()
    assert replies == [None] * 150


async def test_commands_beyond_the_connection_limit_wait_for_a_connection(
    redis_url: str, keyspace: Keyspace
) -> None:
    client = connect_redis(redis_url, max_connections=2, wait_for_connection=10)
    idle = keyspace.key("ping", "never-pushed")

    async def pipelined() -> list[typing.Any]:
        async with client.pipeline(transaction=False) as pipe:
            pipe.get(idle)
            pipe.exists(idle)
            return typing.cast("list[typing.Any]", await pipe.execute())

    try:
        blocking = [client.blpop([idle], timeout=0.05) for _ in range(6)]
        replies = await asyncio.gather(*blocking, *(pipelined() for _ in range(6)))
    finally:
        await client.aclose()
    assert replies == [None] * 6 + [[None, 0]] * 6


async def test_a_command_that_waited_too_long_for_a_connection_fails(
    redis_url: str, keyspace: Keyspace
) -> None:
    client = connect_redis(redis_url, max_connections=1, wait_for_connection=0.05)
    idle = keyspace.key("ping", "never-pushed")
    try:
        # gather starts its tasks in order: the BLPOP holds the one connection before the GET
        # asks for it.
        held, refused = await asyncio.gather(
            client.blpop([idle], timeout=0.3), client.get(idle), return_exceptions=True
        )
    finally:
        await client.aclose()
    assert held is None
    assert isinstance(refused, RedisConnectionError)
    assert "No connection available" in str(refused)


async def test_a_write_to_a_closed_connection_fails_as_a_lost_connection(
    redis_url: str,
) -> None:
    # Python 3.13.0's asyncio raises TypeError for it (`_write_ready` is None), which no
    # retry policy knows; the cluster client closes connections under commands in flight.
    client = connect_redis(redis_url)
    try:
        if isinstance(client, RedisCluster):
            await client.initialize()
            node = client.get_default_node()
            connection = node.acquire_connection()
            node.release(connection)
        else:
            connection = await client.connection_pool.get_connection()
            await client.connection_pool.release(connection)
        assert isinstance(connection, TownsquareConnection)
        await connection.connect()
        writer = connection._writer
        assert writer is not None
        writer.close()

        async def ping() -> typing.Any:  # a later Python may fail the write or the read
            await connection.send_command("PING")
            return await connection.read_response()

        with pytest.raises(RedisConnectionError):
            await ping()
    finally:
        await client.aclose()
