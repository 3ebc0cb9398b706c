"""The API keys feature's Redis key families (docs/redis-keys.md), registered when it is loaded."""

from __future__ import annotations

import typing

from townsquare.core.keyspace import Family, HashTag, Part, RedisType, TTLPolicy

__all__ = ["APIKEY_FAMILIES"]

APIKEY_FAMILIES: typing.Final[tuple[Family, ...]] = (
    Family(
        "api_key",
        RedisType.STRING,
        (Part.NAME,),
        TTLPolicy.fixed(300, "a cache of the api_keys row; revocation overwrites it at once"),
        "the HTTP service: on a miss from PostgreSQL (SET NX), tombstones at revocation",
        "Per API key prefix: `{guild, hash}` JSON, or a `revoked`/`unknown` tombstone.",
        HashTag.first_part(),
    ),
    Family(
        "api_rate",
        RedisType.STRING,
        (Part.NAME,),
        TTLPolicy.by_writer("the rate-limit window, set by the first request of a window"),
        "the HTTP service, for every authenticated `/public/v1` request",
        "Per API key prefix: requests in the current fixed window (INCR + EXPIRE in Lua).",
        HashTag.first_part(),
    ),
)
