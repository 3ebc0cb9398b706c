"""A member's XP level as other features may read it (the kernel's read path to XP facts).

Features never import each other; the XP feature documents its Redis representation
(docs/redis-keys.md, family `xp_levels`: per guild, member id -> the level last applied), and
this is the one place that reads it for others (the giveaways' minimum level). A member the XP
store does not know, or a deployment without the XP feature, reads as level 0.
"""

from __future__ import annotations

import typing

from townsquare.core.keyspace import KeyspaceError

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = ["member_level", "member_levels"]

LEVELS_FAMILY: typing.Final = "xp_levels"


async def member_level(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, user_id: int
) -> int:
    """The level the XP feature last applied to the member (0 when unknown)."""
    try:
        key = keyspace.key(LEVELS_FAMILY, guild_id)
    except KeyspaceError:  # the XP feature is not enabled
        return 0
    raw = await redis.hget(key, str(user_id))
    return int(raw) if raw is not None else 0


async def member_levels(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, user_ids: Sequence[int]
) -> dict[int, int]:
    """:func:`member_level` of several members in one read (HMGET)."""
    if not user_ids:
        return {}
    try:
        key = keyspace.key(LEVELS_FAMILY, guild_id)
    except KeyspaceError:
        return dict.fromkeys(user_ids, 0)
    raw = await redis.hmget(key, [str(u) for u in user_ids])
    return {u: int(r) if r is not None else 0 for u, r in zip(user_ids, raw, strict=True)}
