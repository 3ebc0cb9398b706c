"""The giveaways' Redis key families (rows in docs/redis-keys.md)."""

from __future__ import annotations

import typing

from townsquare.core.keyspace import Family, HashTag, Part, RedisType, TTLPolicy

__all__ = ["GIVEAWAY_FAMILIES"]

GIVEAWAY_FAMILIES: typing.Final[tuple[Family, ...]] = (
    Family(
        "giveaway",
        RedisType.HASH,
        (Part.INDEX,),
        TTLPolicy.by_writer("none while it runs; a day once its entries close"),
        "the giveaway lifecycle (workers, the HTTP service)",
        "Per giveaway id: what a click needs (`state` open/closed, guild, requirements JSON).",
        HashTag.guild(),
    ),
    Family(
        "giveaway_entries",
        RedisType.HASH,
        (Part.INDEX,),
        TTLPolicy.by_writer("none while it runs; a day once its entries close"),
        "shards (Enter/Leave clicks)",
        "Per giveaway id: user id -> weight (1 + bonus entries) of every current entry.",
        HashTag.guild(),
    ),
    Family(
        "giveaway_dirty",
        RedisType.HASH,
        (Part.INDEX,),
        TTLPolicy.persistent("fields leave when the flush has written them to PostgreSQL"),
        "shards (clicks); the flush removes",
        "Per giveaway id: user id -> change counter of entries not yet in PostgreSQL.",
        HashTag.guild(),
    ),
    Family(
        "giveaway_dirty_ids",
        RedisType.SET,
        (Part.INDEX,),
        TTLPolicy.persistent("a giveaway leaves when its last change is flushed"),
        "shards (clicks); the flush removes",
        "Per giveaway bucket (`id % 256`): giveaway ids with entry changes waiting for the flush.",
        HashTag.guild_bucket(),
    ),
    Family(
        "giveaway_counts",
        RedisType.SET,
        (Part.INDEX,),
        TTLPolicy.persistent("members leave when the tick has edited the message"),
        "shards (clicks); the tick removes",
        "Per giveaway bucket: giveaway ids whose entry count changed since their message was last "
        "edited.",
        HashTag.guild_bucket(),
    ),
    Family(
        "giveaway_messages",
        RedisType.SET,
        (),
        TTLPolicy.persistent("a message id leaves when its giveaway stops taking entries"),
        "the giveaway lifecycle (workers)",
        "Message ids of running giveaways: a shard tells the workers when one is deleted.",
    ),
    Family(
        "giveaway_kick",
        RedisType.STRING,
        (Part.NAME, Part.HASHED),
        TTLPolicy.fixed(30, "only keeps the tick from queueing the same due work every 5 s"),
        "the giveaways tick",
        "Per task and due item (`end`, `42`): set NX when the tick queues the job.",
    ),
)
