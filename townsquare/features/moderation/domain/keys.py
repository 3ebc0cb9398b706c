"""The moderation feature's Redis key families (docs/redis-keys.md), with the guard's."""

from __future__ import annotations

import typing

from townsquare.core.guard.keys import GUARD_FAMILIES
from townsquare.core.keyspace import Family, HashTag, Part, RedisType, TTLPolicy

__all__ = ["MODERATION_FAMILIES"]

MODERATION_FAMILIES: typing.Final[tuple[Family, ...]] = (
    *GUARD_FAMILIES,
    Family(
        "automod_recent",
        RedisType.SORTED_SET,
        (Part.SNOWFLAKE, Part.SNOWFLAKE),
        TTLPolicy.by_writer("the longest automod window plus 5 minutes, renewed"),
        "automod workers",
        "Per guild and member: recent message ids (at most 120), scored by message time (ms).",
        HashTag.guild(),
    ),
    Family(
        "automod_state",
        RedisType.HASH,
        (Part.SNOWFLAKE, Part.SNOWFLAKE),
        TTLPolicy.by_writer("the longest automod window plus 5 minutes, renewed"),
        "automod workers",
        "Per guild and member: each recent message's mentions and text digest, its verdict "
        "(so a redelivered message is judged once), and when each windowed rule last fired.",
        HashTag.guild(),
    ),
    Family(
        "antiraid_joins",
        RedisType.SORTED_SET,
        (Part.SNOWFLAKE,),
        TTLPolicy.by_writer("the anti-raid window, renewed with each join"),
        "automod workers",
        "Per guild: recent joins (`<user>:<ms>`) scored by join time, pruned to the window.",
        HashTag.guild(),
    ),
    Family(
        "antiraid_state",
        RedisType.HASH,
        (Part.SNOWFLAKE,),
        TTLPolicy.persistent("deleted when raid mode ends (the minute's raid watch)"),
        "automod workers; the raid watch deletes it",
        "Per guild in raid mode: when it started, the last join, joins during it, and each "
        "raid-mode join's verdict (judged once).",
        HashTag.guild(),
    ),
    Family(
        "antiraid_active",
        RedisType.SET,
        (Part.INDEX,),
        TTLPolicy.persistent("members removed when their raid mode ends"),
        "automod workers; the raid watch removes",
        "Per guild bucket (`guild_id % 256`): guild ids in raid mode.",
        HashTag.guild_bucket(),
    ),
    Family(
        "invite_guild",
        RedisType.STRING,
        (Part.HASHED,),
        TTLPolicy.by_writer("an hour for a code that resolved, 10 minutes for an unknown one"),
        "automod workers",
        "Per invite code (its digest): the guild it leads to, `0` when Discord knows none.",
    ),
    Family(
        "antinuke_actions",
        RedisType.SORTED_SET,
        (Part.SNOWFLAKE, Part.SNOWFLAKE),
        TTLPolicy.by_writer("the anti-nuke window, renewed with each entry"),
        "automod workers",
        "Per guild and actor: watched audit-log entries (`<kind>:<entry id>`) in the window, "
        "scored by entry time (ms); emptied by a trip.",
        HashTag.guild(),
    ),
    Family(
        "antinuke_state",
        RedisType.HASH,
        (Part.SNOWFLAKE, Part.SNOWFLAKE),
        TTLPolicy.by_writer("the longer of the anti-nuke window and cool-down, renewed"),
        "automod workers",
        "Per guild and actor: the newest entry time, the cool-down's end after a trip, the "
        "verdicts of entries in a cool-down, and which trips were alerted.",
        HashTag.guild(),
    ),
)
