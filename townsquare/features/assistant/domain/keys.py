"""The assistant's Redis key families (docs/redis-keys.md), registered when it is loaded."""

from __future__ import annotations

import typing

from townsquare.core.keyspace import Family, HashTag, Part, RedisType, TTLPolicy

__all__ = ["ASSISTANT_FAMILIES"]

ASSISTANT_FAMILIES: typing.Final[tuple[Family, ...]] = (
    Family(
        "ai_member_rate",
        RedisType.STRING,
        (Part.SNOWFLAKE, Part.SNOWFLAKE),
        TTLPolicy.by_writer("until the member's hourly allowance is whole again"),
        "shards and AI workers (rate-limit script)",
        "Per guild and member: the GCRA theoretical arrival time (ms) of questions.",
        HashTag.guild(),
    ),
    Family(
        "ai_guild_rate",
        RedisType.STRING,
        (Part.SNOWFLAKE,),
        TTLPolicy.by_writer("until the guild's per-minute allowance is whole again"),
        "shards and AI workers (rate-limit script)",
        "Per guild: the GCRA theoretical arrival time (ms) of questions.",
        HashTag.guild(),
    ),
    Family(
        "ai_tokens",
        RedisType.STRING,
        (Part.SNOWFLAKE, Part.INDEX),
        TTLPolicy.by_writer("two days: the UTC day it counts, and a day to read it back"),
        "AI workers (budget script)",
        "Per guild and UTC day (days since 1970): model tokens reserved or spent.",
        HashTag.guild(),
    ),
    Family(
        "ai_outcome",
        RedisType.STRING,
        (Part.SNOWFLAKE,),
        TTLPolicy.by_writer("an hour: longer than a job's retries"),
        "AI workers",
        "Per interaction or message id: the reply computed (JSON), reused by a retried job.",
    ),
    Family(
        "ai_conversation",
        RedisType.STRING,
        (Part.SNOWFLAKE,),
        TTLPolicy.by_writer("a day after the answer: replies to older answers start afresh"),
        "AI workers",
        "Per answer message id: the conversation's last turns (JSON), for reply-to-continue.",
    ),
)
