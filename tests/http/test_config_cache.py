"""The guild configuration cache in Redis: read-through on a miss, never older over newer."""

from __future__ import annotations

import json
import typing

from townsquare.core.audit.service import Actor
from townsquare.core.config.cache import drop_config, get_config, store_config
from townsquare.core.config.service import VersionedConfig, update_guild_config
from townsquare.core.settings import load_settings
from townsquare.features.xp.domain.config import XPSection

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

GUILD = 1_111_222_333_444_555_666
DEFAULTS = load_settings(environ={}, env_file=None).guild_defaults


async def test_a_miss_reads_through_to_postgres_and_fills_the_cache(
    redis: aioredis.Redis, keyspace: Keyspace, orm: None
) -> None:
    key = keyspace.key("guild_config", GUILD)
    assert await redis.get(key) is None
    versioned = await get_config(redis, keyspace, GUILD, DEFAULTS)
    assert versioned.version == 1
    assert versioned.config == DEFAULTS
    cached = json.loads(await redis.get(key))
    assert cached["version"] == 1
    assert 3590 < await redis.ttl(key) <= 3600


async def test_a_hit_does_not_touch_postgres(
    redis: aioredis.Redis, keyspace: Keyspace, orm: None
) -> None:
    changed = DEFAULTS.with_section(
        DEFAULTS.section(XPSection).model_copy(update={"cooldown_seconds": 7})
    )
    await store_config(redis, keyspace, GUILD, VersionedConfig(5, changed))
    versioned = await get_config(redis, keyspace, GUILD, DEFAULTS)
    assert (versioned.version, versioned.config.section(XPSection).cooldown_seconds) == (5, 7)


async def test_an_older_version_never_replaces_a_newer_one(
    redis: aioredis.Redis, keyspace: Keyspace, orm: None
) -> None:
    newer = DEFAULTS.with_section(
        DEFAULTS.section(XPSection).model_copy(update={"cooldown_seconds": 9})
    )
    assert await store_config(redis, keyspace, GUILD, VersionedConfig(3, newer))
    assert not await store_config(redis, keyspace, GUILD, VersionedConfig(2, DEFAULTS))
    assert (await get_config(redis, keyspace, GUILD, DEFAULTS)).version == 3


async def test_an_update_then_store_is_what_readers_see(
    redis: aioredis.Redis, keyspace: Keyspace, orm: None
) -> None:
    await get_config(redis, keyspace, GUILD, DEFAULTS)  # cached at version 1
    changed = DEFAULTS.with_section(
        DEFAULTS.section(XPSection).model_copy(update={"cooldown_seconds": 3})
    )
    versioned = await update_guild_config(
        GUILD, changed, expected_version=1, actor=Actor.system(), defaults=DEFAULTS
    )
    await store_config(redis, keyspace, GUILD, versioned)
    seen = await get_config(redis, keyspace, GUILD, DEFAULTS)
    assert (seen.version, seen.config.section(XPSection).cooldown_seconds) == (2, 3)


async def test_an_unreadable_or_dropped_copy_is_reloaded(
    redis: aioredis.Redis, keyspace: Keyspace, orm: None
) -> None:
    key = keyspace.key("guild_config", GUILD)
    await redis.set(key, b"{not json")
    assert (await get_config(redis, keyspace, GUILD, DEFAULTS)).version == 1
    assert json.loads(await redis.get(key))["version"] == 1
    await drop_config(redis, keyspace, GUILD)
    assert await redis.get(key) is None
