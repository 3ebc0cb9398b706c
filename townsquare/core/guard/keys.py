"""The guard's Redis key families (docs/redis-keys.md), registered by the feature that uses it."""

from __future__ import annotations

import typing

from townsquare.core.keyspace import Family, HashTag, Part, RedisType, TTLPolicy

__all__ = ["GUARD_FAMILIES"]

GUARD_FAMILIES: typing.Final[tuple[Family, ...]] = (
    Family(
        "guard_actions",
        RedisType.SORTED_SET,
        (Part.SNOWFLAKE, Part.SNOWFLAKE),
        TTLPolicy.by_writer("the anti-abuse window, renewed with each action"),
        "the guard (HTTP service, workers)",
        "Per guild and actor: idempotency keys of recent destructive actions, scored by time (ms).",
        HashTag.guild(),
    ),
    Family(
        "guard_cooldown",
        RedisType.STRING,
        (Part.SNOWFLAKE, Part.SNOWFLAKE),
        TTLPolicy.by_writer("the anti-abuse cool-down"),
        "the guard",
        "Per guild and actor: present while the actor is blocked for exceeding the limit.",
        HashTag.guild(),
    ),
)
