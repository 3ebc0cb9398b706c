"""The guild configuration cache in Redis (flow 9).

Shards and workers read a guild's configuration with :func:`get_config`: from Redis, or on a
miss from PostgreSQL (:func:`load_guild_config`), which refills the cache. The HTTP service calls
:func:`store_config` after every successful change, so the bot sees it on its next read.

A write never replaces a newer version with an older one: a reader that loaded version 3 just
before an admin saved version 4 cannot put version 3 back (the comparison runs inside Redis).
"""

from __future__ import annotations

import json
import time
import typing

import structlog
from pydantic import ValidationError

from townsquare.core.config.service import VersionedConfig, load_guild_config
from townsquare.core.features import guild_config_model

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.config.schemas import GuildConfig
    from townsquare.core.keyspace import Keyspace

__all__ = [
    "FAMILY",
    "LOCAL_CACHE_SECONDS",
    "LocalConfigCache",
    "cached_config",
    "drop_config",
    "get_config",
    "store_config",
]

FAMILY: typing.Final = "guild_config"
LOCAL_CACHE_SECONDS: typing.Final = 5.0
"""How long a process reuses a guild's configuration before asking the Redis cache again."""

log = structlog.get_logger(__name__)

# KEYS[1] the cache key; ARGV: the JSON document, its version, the TTL in seconds.
_STORE_IF_NOT_OLDER = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, doc = pcall(cjson.decode, current)
  if ok and type(doc) == 'table' and tonumber(doc['version'])
      and tonumber(doc['version']) > tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"""


async def get_config(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, defaults: GuildConfig
) -> VersionedConfig:
    """The guild's configuration: the cached copy, or PostgreSQL's (then cached) on a miss."""
    cached = await cached_config(redis, keyspace, guild_id)
    if cached is not None:
        return cached
    versioned = await load_guild_config(guild_id, defaults)
    await store_config(redis, keyspace, guild_id, versioned)
    return versioned


async def cached_config(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int
) -> VersionedConfig | None:
    """The cached copy only (no database): None on a miss or an unreadable copy."""
    raw = await redis.get(keyspace.key(FAMILY, guild_id))
    if raw is None:
        return None
    try:
        return _decode(raw)
    except (ValueError, ValidationError, KeyError, TypeError):
        # A copy from an older schema or a broken write: the database has the truth.
        log.warning("config_cache_unreadable", guild_id=guild_id)
        return None


async def store_config(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, versioned: VersionedConfig
) -> bool:
    """Cache `versioned` unless a newer version is cached; True when it was written."""
    payload = json.dumps(
        {"version": versioned.version, "config": versioned.config.model_dump(mode="json")},
        separators=(",", ":"),
    )
    ttl = keyspace.ttl(FAMILY)
    assert ttl is not None  # the family has a fixed TTL
    written = await redis.eval(
        _STORE_IF_NOT_OLDER, 1, keyspace.key(FAMILY, guild_id), payload, versioned.version, ttl
    )
    return bool(written)


async def drop_config(redis: aioredis.Redis, keyspace: Keyspace, guild_id: int) -> None:
    """Forget the cached copy; the next read loads it from PostgreSQL."""
    await redis.delete(keyspace.key(FAMILY, guild_id))


def _decode(raw: bytes | str) -> VersionedConfig:
    data = json.loads(raw)
    return VersionedConfig(
        int(data["version"]), guild_config_model().model_validate(data["config"])
    )


class LocalConfigCache:
    """One process's short-lived copies of guild configurations, in front of :func:`get_config`.

    It lives on the process's resources object (a worker's `TaskResources`), never in a module
    global, so two workers in one process (as in tests) and a restarted worker start empty.
    """

    __slots__ = ("_entries", "seconds")

    def __init__(self, seconds: float = LOCAL_CACHE_SECONDS) -> None:
        self.seconds = seconds
        self._entries: dict[tuple[str, int], tuple[float, GuildConfig]] = {}

    async def get(
        self,
        redis: aioredis.Redis,
        keyspace: Keyspace,
        guild_id: int,
        defaults: GuildConfig,
    ) -> GuildConfig:
        """The guild's configuration, reused for :attr:`seconds` after each read."""
        key = (keyspace.namespace, guild_id)
        cached = self._entries.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        versioned = await get_config(redis, keyspace, guild_id, defaults)
        self._entries[key] = (now + self.seconds, versioned.config)
        return versioned.config

    def clear(self) -> None:
        """Forget every copy (the next read asks Redis)."""
        self._entries.clear()
