"""The XP feature's Redis key families (docs/redis-keys.md), registered when it is loaded."""

from __future__ import annotations

import typing

from townsquare.core.keyspace import Family, HashTag, Part, RedisType, TTLPolicy

__all__ = ["XP_FAMILIES"]

XP_FAMILIES: typing.Final[tuple[Family, ...]] = (
    Family(
        "xp",
        RedisType.HASH,
        (Part.SNOWFLAKE,),
        TTLPolicy.persistent("hot XP totals; flushed to PostgreSQL, which stays the truth"),
        "XP workers",
        "Per guild: member id -> total XP.",
        HashTag.guild(),
    ),
    Family(
        "xp_messages",
        RedisType.HASH,
        (Part.SNOWFLAKE,),
        TTLPolicy.persistent("hot message counts; flushed to PostgreSQL with the XP totals"),
        "XP workers",
        "Per guild: member id -> messages counted (each message id once).",
        HashTag.guild(),
    ),
    Family(
        "xp_voice_minutes",
        RedisType.HASH,
        (Part.SNOWFLAKE,),
        TTLPolicy.persistent("hot voice minutes; flushed to PostgreSQL with the XP totals"),
        "XP workers (voice tick)",
        "Per guild: member id -> minutes that earned voice XP.",
        HashTag.guild(),
    ),
    Family(
        "xp_notice_lock",
        RedisType.STRING,
        (Part.SNOWFLAKE, Part.SNOWFLAKE),
        TTLPolicy.fixed(30, "held while one worker announces a member's level-up"),
        "XP workers (level jobs)",
        "Per guild and member: the lease of the worker posting a level-up notice, so a "
        "member's notices go out one at a time.",
    ),
    Family(
        "xp_noticed",
        RedisType.STRING,
        (Part.SNOWFLAKE, Part.SNOWFLAKE),
        TTLPolicy.fixed(86_400, "only level jobs still in flight can be out of order"),
        "XP workers (level jobs)",
        "Per guild and member: the highest level announced; a job for a lower level, run "
        "late, posts no notice (notices never go backwards).",
    ),
    Family(
        "xp_seen",
        RedisType.SORTED_SET,
        (Part.SNOWFLAKE, Part.SNOWFLAKE),
        TTLPolicy.by_writer("the lateness window plus the cooldown plus 5 minutes, renewed"),
        "XP workers",
        "Per guild and member: message ids already counted, scored by message time (ms).",
        HashTag.guild(),
    ),
    Family(
        "xp_awarded",
        RedisType.SORTED_SET,
        (Part.SNOWFLAKE, Part.SNOWFLAKE),
        TTLPolicy.by_writer("the lateness window plus the cooldown plus 5 minutes, renewed"),
        "XP workers",
        "Per guild and member: message ids that earned XP, scored by message time (ms).",
        HashTag.guild(),
    ),
    Family(
        "xp_earnable",
        RedisType.SORTED_SET,
        (Part.SNOWFLAKE, Part.SNOWFLAKE),
        TTLPolicy.by_writer("the lateness window plus the cooldown plus 5 minutes, renewed"),
        "XP workers",
        "Per guild and member: counted messages worth XP (candidates), scored by message time.",
        HashTag.guild(),
    ),
    Family(
        "xp_dirty",
        RedisType.HASH,
        (Part.SNOWFLAKE,),
        TTLPolicy.persistent("fields leave when the flush has written them"),
        "XP workers and admin operations; the flush removes",
        "Per guild: member id -> change counter of members not yet flushed to PostgreSQL.",
        HashTag.guild(),
    ),
    Family(
        "xp_dirty_guilds",
        RedisType.SET,
        (Part.INDEX,),
        TTLPolicy.persistent("a guild leaves when its last dirty member is flushed"),
        "XP workers and admin operations; the flush removes",
        "Per guild bucket (`guild_id % 256`): guild ids with members waiting for the flush.",
        HashTag.guild_bucket(),
    ),
    Family(
        "xp_levels",
        RedisType.HASH,
        (Part.SNOWFLAKE,),
        TTLPolicy.persistent("the level whose rewards were last queued per member"),
        "XP workers",
        "Per guild: member id -> level last applied (reward roles and notice queued).",
        HashTag.guild(),
    ),
    Family(
        "xp_level_jobs",
        RedisType.LIST,
        (Part.SNOWFLAKE,),
        TTLPolicy.persistent("a job leaves once it is in the `jobs` stream"),
        "XP workers, in the script that records a new level; sent on by the same worker",
        "Per guild: the outbox of `xp.apply_level` jobs (encoded, in order) not yet in the "
        "`jobs` stream; a crash leaves them for the next sync or flush of the guild.",
        HashTag.guild(),
    ),
    Family(
        "xp_loading",
        RedisType.STRING,
        (Part.SNOWFLAKE, Part.NAME),
        TTLPolicy.fixed(600, "a load that dies leaves nothing behind for long"),
        "a load of the guild's XP from PostgreSQL, at its start",
        "Per guild and load: proves Redis kept its data while the load ran; the marker is set "
        "only if it is still there.",
        HashTag.guild(),
    ),
    Family(
        "xp_loaded",
        RedisType.STRING,
        (Part.SNOWFLAKE,),
        TTLPolicy.persistent("lost only with the XP hashes it vouches for (no eviction)"),
        "whoever first writes or reads the guild's XP, after loading it from PostgreSQL",
        "Per guild: present once the `member_xp` rows are in the XP hashes; the XP scripts "
        "refuse to write without it.",
        HashTag.guild(),
    ),
    Family(
        "xp_voice",
        RedisType.HASH,
        (Part.SNOWFLAKE,),
        TTLPolicy.persistent("members leave the hash when they leave voice"),
        "XP workers, from voice and guild records",
        "Per guild: member id -> JSON voice state (channel, mute/deaf flags, bot, time).",
        HashTag.guild(),
    ),
    Family(
        "xp_voice_guilds",
        RedisType.SET,
        (Part.INDEX,),
        TTLPolicy.persistent("a guild leaves when nobody is in voice there"),
        "XP workers, from voice and guild records",
        "Per guild bucket: guild ids with members in voice, visited by the voice tick.",
        HashTag.guild_bucket(),
    ),
    Family(
        "xp_voice_tick",
        RedisType.STRING,
        (Part.SNOWFLAKE, Part.INDEX),
        TTLPolicy.by_writer("a day: longer than a tick can be repeated"),
        "the voice tick",
        "Per guild and minute (Unix s // 60): set when the minute's voice XP was awarded, so a "
        "repeated tick awards nothing.",
        HashTag.guild(),
    ),
    Family(
        "xp_guild",
        RedisType.HASH,
        (Part.SNOWFLAKE,),
        TTLPolicy.persistent("rewritten by every guild record"),
        "XP workers, from guild records",
        "Per guild: `name`, `afk_channel_id` and the record time `ts` the XP rules need.",
    ),
    Family(
        "public_leaderboard",
        RedisType.STRING,
        (Part.SNOWFLAKE, Part.INDEX, Part.INDEX),
        TTLPolicy.fixed(10, "a short cache; the public leaderboard may lag the XP by that long"),
        "the HTTP service, on a miss",
        "Per guild, page and page size: the `/public/v1` leaderboard response body (JSON).",
    ),
)
