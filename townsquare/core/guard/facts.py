"""The guild facts the guard decides on, read from Discord REST at the time of the action.

Read fresh for every action (roles move; a cached hierarchy would let a demoted moderator act):
the guild (roles and owner), the actor's and the target's members, and the bot's own member.
"""

from __future__ import annotations

import asyncio
import time
import typing

import hikari

from townsquare.core.guard.hierarchy import GuildFacts, MemberFacts, RoleFacts

__all__ = ["GUILD_FACTS_SECONDS", "bot_user_id", "forget_guild", "load_facts", "member_facts"]

_BOT_IDS: dict[int, tuple[hikari.api.RESTClient, int]] = {}
"""By the client's id (hikari's clients take no weak references): the client, kept alive so
its id is not reused, and the bot's user id. A process holds one or two clients."""


async def bot_user_id(rest: hikari.api.RESTClient) -> int:
    """The bot's user id (asked once per REST client)."""
    known = _BOT_IDS.get(id(rest))
    if known is None:
        if len(_BOT_IDS) >= 8:
            _BOT_IDS.clear()
        known = _BOT_IDS[id(rest)] = (rest, int((await rest.fetch_my_user()).id))
    return known[1]


async def member_facts(
    rest: hikari.api.RESTClient, guild_id: int, user_id: int
) -> MemberFacts | None:
    """The member's roles, or None when they are not a member of the guild."""
    try:
        member = await rest.fetch_member(guild_id, user_id)
    except hikari.NotFoundError:
        return None
    return MemberFacts(
        user_id=int(member.id),
        name=member.display_name or member.username,
        role_ids=tuple(int(r) for r in member.role_ids if int(r) != guild_id),
        is_bot=member.is_bot,
    )


GUILD_FACTS_SECONDS: typing.Final = 5.0
"""How long a process reuses a guild's roles, owner and the bot's member (the actor's and the
target's members are read fresh for every action): a role moved in Discord counts within
this, and a burst of actions costs two requests each instead of four."""
_GUILDS: dict[tuple[int, int], tuple[hikari.api.RESTClient, float, GuildFacts]] = {}


async def _guild_facts(rest: hikari.api.RESTClient, guild_id: int) -> GuildFacts:
    now = time.monotonic()
    cached = _GUILDS.get((id(rest), guild_id))
    if cached is not None and cached[1] > now:
        return cached[2]
    bot_id = await bot_user_id(rest)
    guild, bot = await asyncio.gather(
        rest.fetch_guild(guild_id), member_facts(rest, guild_id, bot_id)
    )
    if bot is None:
        raise hikari.NotFoundError(
            url="", headers={}, raw_body=b"", message="the bot is not in this guild"
        )
    roles = {
        int(role.id): RoleFacts(int(role.id), role.name, role.position, role.permissions)
        for role in guild.roles.values()
    }
    facts = GuildFacts(
        guild_id=guild_id, name=guild.name, owner_id=int(guild.owner_id), bot=bot, roles=roles
    )
    if len(_GUILDS) >= 1000:
        _GUILDS.clear()
    _GUILDS[(id(rest), guild_id)] = (rest, now + GUILD_FACTS_SECONDS, facts)
    return facts


def forget_guild(guild_id: int) -> None:
    """Drop the cached facts of `guild_id` (roles changed: anti-nuke, tests)."""
    for key in [k for k in _GUILDS if k[1] == guild_id]:
        del _GUILDS[key]


async def load_facts(
    rest: hikari.api.RESTClient, guild_id: int, user_ids: typing.Iterable[int | None]
) -> tuple[GuildFacts, dict[int, MemberFacts | None]]:
    """The guild's facts and the members of `user_ids` (None for users who are not members)."""
    wanted = list(dict.fromkeys(u for u in user_ids if u is not None))
    facts, *found = await asyncio.gather(
        _guild_facts(rest, guild_id),
        *(member_facts(rest, guild_id, user_id) for user_id in wanted),
    )
    assert isinstance(facts, GuildFacts)
    return facts, {
        user: typing.cast("MemberFacts | None", m) for user, m in zip(wanted, found, strict=True)
    }
