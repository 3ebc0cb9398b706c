"""Voice XP with anti-AFK rules: per-guild voice state in Redis, and the per-minute tick.

Voice and guild records keep `xp_voice` (member -> JSON state) current. A state is replaced
only by one at least as new (`ts`), so a late record never undoes a newer one; leaving voice
is kept as a tombstone (`channel` null) for the same reason. A guild record replaces the
whole list: members it does not list, whose state is older than the record, are dropped.

Every minute the tick awards `xp_per_minute` to each eligible member (:func:`eligible_members`)
of each guild with voice state. The tick of minute `m` (Unix minutes) awards a guild at most
once: its `done` marker is set in the same script as the award. The scheduler tells each tick
its minute, so a tick delivered late still pays its own minute (from the states as they are
when it runs); one more than :data:`TICK_LATE_LIMIT_MINUTES` late pays nothing
(:func:`tick_is_stale`): nobody knows who was in voice then, and paying the present members
for it would back-pay a whole outage to whoever happens to be in voice at its end.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import typing

from townsquare.core.activity.counters import ACTIVITY_LUA, COUNTS_TTL_SECONDS, activity_keys
from townsquare.features.xp.domain.hydrate import require_loaded, run_loaded

if typing.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    import redis.asyncio as aioredis

    from townsquare.core.events import GuildRecord, VoiceStateRecord
    from townsquare.core.keyspace import Keyspace
    from townsquare.features.xp.domain.config import VoiceXPSection

__all__ = [
    "TICK_DONE_TTL_SECONDS",
    "TICK_LATE_LIMIT_MINUTES",
    "VoiceState",
    "apply_guild_record",
    "apply_voice_records",
    "award_voice_minute",
    "eligible_members",
    "read_voice_states",
    "tick_is_stale",
]

TICK_DONE_TTL_SECONDS: typing.Final = 86_400
TICK_LATE_LIMIT_MINUTES: typing.Final = 5
"""How many minutes late (by the Redis server's clock) a tick still pays its minute; a worker
killed under a tick, or a short backlog, stays well within it."""

# The end of both scripts below: the guild is listed in xp_voice_guilds exactly while its
# voice hash has members (KEYS[1] the hash, KEYS[2] the index, ARGV[1] the guild).
_INDEX_GUILD: typing.Final = """
if redis.call('HLEN', KEYS[1]) > 0 then
  redis.call('SADD', KEYS[2], ARGV[1])
else
  redis.call('SREM', KEYS[2], ARGV[1])
end
return 1
"""

# KEYS: xp_voice, xp_voice_guilds. ARGV: guild, then per member: id, ts, state JSON.
# A state is replaced only by one at least as new.
_SYNC_SCRIPT: typing.Final = (
    """
for k = 2, #ARGV, 3 do
  local old = redis.call('HGET', KEYS[1], ARGV[k])
  if (not old) or cjson.decode(old).ts <= tonumber(ARGV[k + 1]) then
    redis.call('HSET', KEYS[1], ARGV[k], ARGV[k + 2])
  end
end
"""
    + _INDEX_GUILD
)

# KEYS: xp_voice, xp_voice_guilds. ARGV: guild, replace-before ts, then members read by one
# HSCAN page. Drops each whose state is no newer than the guild record (a member the record
# does not list). Bounded by the page, never by the hash: the caller walks the hash page by
# page (a member written meanwhile is newer than the record and stays).
_DROP_SCRIPT: typing.Final = (
    """
local replace = tonumber(ARGV[2])
for k = 3, #ARGV do
  local old = redis.call('HGET', KEYS[1], ARGV[k])
  if old and cjson.decode(old).ts <= replace then
    redis.call('HDEL', KEYS[1], ARGV[k])
  end
end
"""
    + _INDEX_GUILD
)
_DROP_PAGE: typing.Final = 500
"""Members per HSCAN page and per drop call when a guild record replaces the states."""

# KEYS: done marker, xp, xp_voice_minutes, xp_dirty, xp_dirty_guilds, xp_loaded, then the
# three activity keys of the minute's hour (core/activity/counters.py).
# ARGV: guild, xp per minute, marker ttl, activity pending field, activity TTL, member ids.
# Returns the members' totals, or nothing when this minute was already awarded. The load
# check comes before the done marker is set: a refused tick pays in full when it runs again
# after the load. The XP awarded also counts in the overview's activity, once per minute.
_TICK_SCRIPT: typing.Final = (
    require_loaded("KEYS[6]")
    + ACTIVITY_LUA
    + """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[3]) then
  return false
end
record_activity(7, ARGV[4], tonumber(ARGV[5]), {xp = tonumber(ARGV[2]) * (#ARGV - 5)}, {})
local out = {}
for k = 6, #ARGV do
  redis.call('HINCRBY', KEYS[2], ARGV[k], ARGV[2])
  redis.call('HINCRBY', KEYS[3], ARGV[k], 1)
  redis.call('HINCRBY', KEYS[4], ARGV[k], 1)
  redis.call('SADD', KEYS[5], ARGV[1])
  out[#out + 1] = redis.call('HGET', KEYS[2], ARGV[k])
end
return out
"""
)


@dataclasses.dataclass(frozen=True, slots=True)
class VoiceState:
    """A member's voice state as the tick sees it."""

    user_id: int
    channel_id: int | None
    is_bot: bool
    self_mute: bool
    self_deaf: bool
    mute: bool
    deaf: bool
    ts: int

    @classmethod
    def of(cls, record: VoiceStateRecord) -> VoiceState:
        return cls(
            record.user_id,
            record.channel_id,
            record.is_bot,
            record.self_mute,
            record.self_deaf,
            record.mute,
            record.deaf,
            record.timestamp_ms,
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "channel": None if self.channel_id is None else str(self.channel_id),
                "bot": self.is_bot,
                "self_mute": self.self_mute,
                "self_deaf": self.self_deaf,
                "mute": self.mute,
                "deaf": self.deaf,
                "ts": self.ts,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, user_id: int, raw: str | bytes) -> VoiceState:
        data = json.loads(raw)
        channel = data["channel"]
        return cls(
            user_id,
            None if channel is None else int(channel),
            bool(data["bot"]),
            bool(data["self_mute"]),
            bool(data["self_deaf"]),
            bool(data["mute"]),
            bool(data["deaf"]),
            int(data["ts"]),
        )

    @property
    def deafened(self) -> bool:
        return self.self_deaf or self.deaf


def tick_is_stale(minute: int, current_minute: int) -> bool:
    """Whether the tick of `minute`, run in `current_minute`, is too late to pay anything."""
    return current_minute - minute > TICK_LATE_LIMIT_MINUTES


def eligible_members(
    states: Iterable[VoiceState], afk_channel_id: int | None, section: VoiceXPSection
) -> list[int]:
    """Members who earn this minute.

    A channel qualifies with at least `min_members` members who are not bots and not
    deafened (self or server); the AFK channel never does. In a qualifying channel a member
    earns unless a bot, deafened, or self-muted while `count_self_muted` is off. Server mute
    alone does not stop earning (the member still listens).
    """
    if not section.enabled or section.xp_per_minute == 0:
        return []
    by_channel: dict[int, list[VoiceState]] = collections.defaultdict(list)
    for state in states:
        if state.channel_id is not None and state.channel_id != afk_channel_id:
            by_channel[state.channel_id].append(state)
    earners: list[int] = []
    for members in by_channel.values():
        present = [s for s in members if not s.is_bot and not s.deafened]
        if len(present) < section.min_members:
            continue
        earners += [s.user_id for s in present if section.count_self_muted or not s.self_mute]
    return sorted(earners)


async def apply_voice_records(
    redis: aioredis.Redis, keyspace: Keyspace, records: Sequence[VoiceStateRecord]
) -> None:
    """Store each record's state unless a newer one is stored already."""
    by_guild: dict[int, list[VoiceStateRecord]] = collections.defaultdict(list)
    for record in records:
        by_guild[record.guild_id].append(record)
    for guild_id, guild_records in by_guild.items():
        await _sync(redis, keyspace, guild_id, -1, [VoiceState.of(r) for r in guild_records])


async def apply_guild_record(
    redis: aioredis.Redis, keyspace: Keyspace, record: GuildRecord
) -> None:
    """Store the guild's name and AFK channel, and replace its voice states by the record's."""
    info_key = keyspace.key("xp_guild", record.guild_id)
    stored = await redis.hget(info_key, "ts")
    if stored is None or int(stored) <= record.timestamp_ms:
        await redis.hset(
            info_key,
            mapping={
                "name": record.name,
                "afk_channel_id": str(record.afk_channel_id or 0),
                "ts": str(record.timestamp_ms),
            },
        )
    states = [VoiceState.of(state) for state in record.voice_states]
    await _sync(redis, keyspace, record.guild_id, record.timestamp_ms, states)


async def _sync(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    guild_id: int,
    replace_before: int,
    states: Sequence[VoiceState],
) -> None:
    keys = [keyspace.key("xp_voice", guild_id), keyspace.key("xp_voice_guilds")]
    args: list[int | str] = [guild_id]
    for state in states:
        args += [state.user_id, state.ts, state.to_json()]
    await redis.register_script(_SYNC_SCRIPT)(keys=keys, args=args)
    if replace_before < 0:
        return
    given = {str(state.user_id) for state in states}
    drop = redis.register_script(_DROP_SCRIPT)
    page: list[str] = []
    async for raw, _ in redis.hscan_iter(keys[0], count=_DROP_PAGE):
        member = raw.decode() if isinstance(raw, bytes) else str(raw)
        if member not in given:
            page.append(member)
        if len(page) >= _DROP_PAGE:
            await drop(keys=keys, args=[guild_id, replace_before, *page])
            page = []
    # The last call also runs with no page: it settles the guild's place in xp_voice_guilds.
    await drop(keys=keys, args=[guild_id, replace_before, *page])


async def read_voice_states(
    redis: aioredis.Redis, keyspace: Keyspace, guild_id: int
) -> tuple[list[VoiceState], int | None]:
    """The guild's stored voice states and AFK channel."""
    raw = await redis.hgetall(keyspace.key("xp_voice", guild_id))
    afk = await redis.hget(keyspace.key("xp_guild", guild_id), "afk_channel_id")
    states = [VoiceState.from_json(int(member), value) for member, value in raw.items()]
    return states, (int(afk) or None) if afk is not None else None


async def award_voice_minute(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    guild_id: int,
    *,
    minute: int,
    members: Sequence[int],
    xp_per_minute: int,
) -> Mapping[int, int] | None:
    """Award one minute to `members`; None when minute `minute` was already awarded here."""
    script = redis.register_script(_TICK_SCRIPT)
    keys = [
        keyspace.key("done", "xp_voice", f"{guild_id}/{minute}"),
        keyspace.key("xp", guild_id),
        keyspace.key("xp_voice_minutes", guild_id),
        keyspace.key("xp_dirty", guild_id),
        keyspace.key("xp_dirty_guilds"),
        keyspace.key("xp_loaded", guild_id),
    ]
    activity = activity_keys(keyspace, guild_id, minute * 60_000)
    keys.extend(activity.keys)
    args: list[int | str] = [
        guild_id,
        xp_per_minute,
        TICK_DONE_TTL_SECONDS,
        activity.field,
        COUNTS_TTL_SECONDS,
        *members,
    ]
    raw = await run_loaded(redis, keyspace, guild_id, lambda: script(keys=keys, args=args))
    if raw is None:
        return None
    return {member: int(total) for member, total in zip(members, raw, strict=True)}
