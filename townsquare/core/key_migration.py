"""Renaming keys written before hash tags to their tagged names (docs/redis-keys.md, Cluster).

Keys used together share a hash tag since the Redis Cluster work (`<ns>:xp:{g5}:261` was
`<ns>:xp:261`). On a single Redis the old names are renamed in place: SCAN the namespace,
RENAMENX each key of a tagged family that has no tag yet (and each key a library keeps under a
tagged prefix: taskiq-redis's schedules). A guild index that became one set
per guild bucket (`xp_dirty_guilds`, ...) is split: each member (or, for `activity_pending`,
each `<guild>-<hour>` field) is copied into its bucket, then the old key is deleted. Every
step is idempotent, so a migration that is killed resumes by running again; a key whose new
name is taken already (new code ran before the migration) is left in place and reported.
"""

from __future__ import annotations

import dataclasses
import typing

from townsquare.core.keyspace import FAMILIES, RedisType, TagScope, guild_bucket, tagged_parts
from townsquare.core.replies import as_text

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Family, Keyspace

__all__ = ["KeyMigration", "new_name", "tag_old_keys"]

_SCAN_COUNT = 1000


@dataclasses.dataclass(slots=True)
class KeyMigration:
    """What :func:`tag_old_keys` did."""

    renamed: int = 0
    split: int = 0
    """Guild indexes split into their buckets."""
    conflicts: list[str] = dataclasses.field(default_factory=list)
    """Old keys left alone because their new name exists already."""


def new_name(keyspace: Keyspace, key: str) -> str | None:
    """The tagged name of `key` when it is an untagged key of a tagged family, else None.

    A guild index (sharded per bucket) has no single new name: see :func:`tag_old_keys`.
    """
    family, parts = _parse(keyspace, key)
    if family is None or family.tag.scope is TagScope.GUILD_BUCKET:
        return None
    if family.tag.scope is TagScope.GUILD and not parts[0].isdigit():
        return None
    return ":".join((keyspace.namespace, family.name, *tagged_parts(family, parts)))


async def tag_old_keys(redis: aioredis.Redis, keyspace: Keyspace) -> KeyMigration:
    """Rename the namespace's untagged keys of tagged families (single-node Redis only)."""
    result = KeyMigration()
    async for raw in redis.scan_iter(match=keyspace.everything(), count=_SCAN_COUNT):
        key = as_text(raw)
        family, parts = _parse(keyspace, key)
        if family is None:
            continue
        if family.tag.scope is TagScope.GUILD_BUCKET:
            if not parts:
                await _split_index(redis, keyspace, family, key)
                result.split += 1
            continue
        target = new_name(keyspace, key)
        if target is None:
            continue
        if await redis.renamenx(key, target):
            result.renamed += 1
        elif await redis.exists(key):
            result.conflicts.append(key)
    return result


def _parse(keyspace: Keyspace, key: str) -> tuple[Family | None, list[str]]:
    """The family of an old (untagged) key of a tagged family and its parts, or None."""
    if not key.startswith(keyspace.prefix) or "{" in key:
        return None, []
    name, *parts = key.removeprefix(keyspace.prefix).split(":")
    family = FAMILIES.get(name)
    if family is None or family.tag.scope is TagScope.NONE:
        return None, []
    if family.redis_type is RedisType.PREFIX:
        return family, parts  # a library's keys: the prefix, then its own suffixes
    expected = 0 if family.tag.scope is TagScope.GUILD_BUCKET else len(family.parts)
    if len(parts) != expected:
        return None, []
    return family, parts


async def _split_index(redis: aioredis.Redis, keyspace: Keyspace, family: Family, key: str) -> None:
    """Copy an old guild index into its per-bucket keys, then delete it (idempotent)."""
    kind = as_text(await redis.type(key))
    if kind == "set":
        async for raw in redis.sscan_iter(key, count=_SCAN_COUNT):
            member = as_text(raw)
            bucket = guild_bucket(int(member))
            await redis.sadd(keyspace.key(family.name, bucket), member)
    elif kind == "hash":
        async for field, value in redis.hscan_iter(key, count=_SCAN_COUNT):
            # `activity_pending`'s fields are `<guild>-<hour>`.
            guild = as_text(field).partition("-")[0]
            await redis.hset(keyspace.key(family.name, guild_bucket(int(guild))), field, value)
    await redis.delete(key)
