"""The real Redis and PostgreSQL a test hands to the product's processes, as one fixture."""

from __future__ import annotations

import typing

import pytest

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = ["Backends", "backends"]


class Backends(typing.NamedTuple):
    """Redis (a client, its URL, a namespace no other test uses) and PostgreSQL (its URL, with
    the ORM connected and the tables emptied); unpack it: `redis, url, ks, db = backends`."""

    redis: aioredis.Redis
    redis_url: str
    keyspace: Keyspace
    database_url: str


@pytest.fixture
def backends(
    redis: aioredis.Redis, redis_url: str, keyspace: Keyspace, database_url: str, orm: None
) -> Backends:
    return Backends(redis, redis_url, keyspace, database_url)
