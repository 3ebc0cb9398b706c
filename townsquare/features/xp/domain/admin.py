"""Admin operations on XP: add, remove, set, reset a member or a guild, import from MEE6.

Each one changes the hot totals in Redis in one Lua call, marks the members dirty for the
flush, queues level changes (reward roles follow, up or down) and writes an audit entry.
Totals never go below 0.
"""

from __future__ import annotations

import dataclasses
import typing

from townsquare.core.audit.service import record
from townsquare.core.guilds.service import ensure_guild
from townsquare.core.keyspace import guild_bucket
from townsquare.features.xp.domain.hydrate import ensure_guild_xp, require_loaded, run_loaded
from townsquare.features.xp.domain.levels import sync_levels
from townsquare.features.xp.domain.models import MemberXP

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    import redis.asyncio as aioredis

    from townsquare.core.audit.service import Actor
    from townsquare.core.keyspace import Keyspace
    from townsquare.features.xp.domain.curve import Curve

__all__ = ["GuildXPAdmin", "adjust_totals", "audit_xp_change"]

# KEYS: xp, xp_messages, xp_voice_minutes, xp_dirty, xp_dirty_guilds, xp_loaded.
# ARGV: guild, mode ('add' or 'set'), then per member: id, xp, messages, voice minutes
# ('' leaves that counter alone). Returns the members' new XP totals.
_ADJUST_SCRIPT: typing.Final = (
    require_loaded("KEYS[6]")
    + """
local out = {}
for k = 3, #ARGV, 4 do
  local m = ARGV[k]
  for offset = 1, 3 do
    local value = ARGV[k + offset]
    if value ~= '' then
      local key = KEYS[offset]
      local new = tonumber(value)
      if ARGV[2] == 'add' then
        new = tonumber(redis.call('HGET', key, m) or '0') + new
      end
      if new < 0 then new = 0 end
      redis.call('HSET', key, m, string.format('%d', new))
    end
  end
  redis.call('HINCRBY', KEYS[4], m, 1)
  redis.call('SADD', KEYS[5], ARGV[1])
  out[#out + 1] = redis.call('HGET', KEYS[1], m) or '0'
end
return out
"""
)

Change = tuple[int, int | None, int | None, int | None]
"""A member id and new (or added) XP, message count and voice minutes; None keeps one."""


async def adjust_totals(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    guild_id: int,
    changes: Sequence[Change],
    *,
    mode: typing.Literal["add", "set"],
    curve: Curve,
    notify: bool = True,
    jobs_maxlen: int | None = None,
) -> dict[int, int]:
    """Add to or set the members' counters; returns new XP totals and queues level changes."""
    if not changes:
        return {}
    args: list[int | str] = [guild_id, mode]
    for member, xp, messages, minutes in changes:
        args += [member, *("" if value is None else value for value in (xp, messages, minutes))]
    script = redis.register_script(_ADJUST_SCRIPT)
    keys = [
        keyspace.key("xp", guild_id),
        keyspace.key("xp_messages", guild_id),
        keyspace.key("xp_voice_minutes", guild_id),
        keyspace.key("xp_dirty", guild_id),
        keyspace.key("xp_dirty_guilds", guild_bucket(guild_id)),
        keyspace.key("xp_loaded", guild_id),
    ]
    raw = await run_loaded(redis, keyspace, guild_id, lambda: script(keys=keys, args=args))
    totals = {change[0]: int(total) for change, total in zip(changes, raw, strict=True)}
    await sync_levels(
        redis, keyspace, guild_id, curve, totals, notify=notify, jobs_maxlen=jobs_maxlen
    )
    return totals


async def audit_xp_change(
    action: str,
    actor: Actor,
    *,
    guild_id: int,
    user_id: int | None,
    before: object,
    after: object,
) -> None:
    """Record an XP change in the audit log (the guild row is created if missing)."""
    await ensure_guild(guild_id)
    await record(
        action,
        actor,
        guild_id=guild_id,
        target="guild" if user_id is None else f"member {user_id}",
        before=before,
        after=after,
    )


async def _total(redis: aioredis.Redis, keyspace: Keyspace, guild_id: int, user_id: int) -> int:
    await ensure_guild_xp(redis, keyspace, guild_id)
    return int(await redis.hget(keyspace.key("xp", guild_id), str(user_id)) or 0)


@dataclasses.dataclass(frozen=True, slots=True)
class GuildXPAdmin:
    """One admin's XP changes in one guild: where the totals live, the guild's level curve and
    who acts. Each change is applied in one Lua call and audited; totals never go below 0."""

    redis: aioredis.Redis
    keyspace: Keyspace
    guild_id: int
    curve: Curve
    actor: Actor

    async def add(self, user_id: int, amount: int) -> int:
        """Give the member `amount` XP (negative takes it, down to 0); returns the new total."""
        return await self._change(user_id, (amount, None, None), mode="add", action="xp.add")

    async def remove(self, user_id: int, amount: int) -> int:
        """Take `amount` XP from the member (not below 0); returns the new total."""
        if amount < 0:
            raise ValueError(f"amount to remove must not be negative, got {amount}")
        return await self._change(user_id, (-amount, None, None), mode="add", action="xp.remove")

    async def set(self, user_id: int, total: int) -> int:
        """Set the member's XP total; returns it."""
        if total < 0:
            raise ValueError(f"an XP total must not be negative, got {total}")
        return await self._change(user_id, (total, None, None), mode="set", action="xp.set")

    async def reset_member(self, user_id: int) -> None:
        """Zero the member's XP, message count and voice minutes; their reward roles go."""
        await self._change(user_id, (0, 0, 0), mode="set", action="xp.reset_member", notify=False)

    async def _change(
        self,
        user_id: int,
        change: tuple[int, int | None, int | None],
        *,
        mode: typing.Literal["add", "set"],
        action: str,
        notify: bool = True,
    ) -> int:
        """Apply one member's (xp, messages, voice minutes) change and audit it; the new total."""
        redis, keyspace, guild_id = self.redis, self.keyspace, self.guild_id
        before = await _total(redis, keyspace, guild_id, user_id)
        totals = await adjust_totals(
            redis,
            keyspace,
            guild_id,
            [(user_id, *change)],
            mode=mode,
            curve=self.curve,
            notify=notify,
        )
        after = totals[user_id]
        await audit_xp_change(
            action,
            self.actor,
            guild_id=guild_id,
            user_id=user_id,
            before={"xp": before},
            after={"xp": after},
        )
        return after

    async def reset_guild(self, chunk: int = 1000) -> int:
        """Zero every member of the guild; returns how many were reset.

        The guild is loaded first, so members known only to PostgreSQL lose their reward roles
        too. The `xp_loaded` marker stays: zeroed totals are loaded totals.
        """
        redis, keyspace, guild_id = self.redis, self.keyspace, self.guild_id
        await ensure_guild_xp(redis, keyspace, guild_id)
        members: set[int] = set()
        for family in ("xp", "xp_messages", "xp_voice_minutes", "xp_levels"):
            members.update(
                [
                    int(m)
                    async for m, _ in redis.hscan_iter(keyspace.key(family, guild_id), count=chunk)
                ]
            )
        ordered = sorted(members)
        for start in range(0, len(ordered), chunk):
            await adjust_totals(
                redis,
                keyspace,
                guild_id,
                [(member, 0, 0, 0) for member in ordered[start : start + chunk]],
                mode="set",
                curve=self.curve,
                notify=False,
            )
        # Rows of members Redis no longer knows (flushed long ago) are zeroed too.
        await MemberXP.filter(guild_id=guild_id).update(
            xp=0, level=0, message_count=0, voice_minutes=0
        )
        await audit_xp_change(
            "xp.reset_guild",
            self.actor,
            guild_id=guild_id,
            user_id=None,
            before={"members": len(ordered)},
            after=None,
        )
        return len(ordered)
