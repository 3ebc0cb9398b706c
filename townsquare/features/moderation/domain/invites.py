"""Which invite codes in a batch lead to the guild itself: those are not automod offenses.

A code's guild comes from Discord (`GET /invites/{code}`) and is cached in Redis
(`invite_guild`, by the code's digest: an hour for a code that resolved, 10 minutes for one
Discord does not know), so a code posted a thousand times is asked about once. At most
:data:`MAX_LOOKUPS` uncached codes are asked about per batch (Discord rate-limits invite
lookups); the rest, and codes Discord could not answer for just then (5xx, 429, a timeout),
count as other servers': an outage never lets invite spam through.
"""

from __future__ import annotations

import typing

import hikari
import structlog

from townsquare.features.moderation.domain.rules import invite_codes_as_written

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = ["KNOWN_SECONDS", "MAX_LOOKUPS", "UNKNOWN_SECONDS", "own_invites"]

_log = structlog.get_logger(__name__)

MAX_LOOKUPS: typing.Final = 20
"""Uncached codes resolved per batch."""
KNOWN_SECONDS: typing.Final = 3600
UNKNOWN_SECONDS: typing.Final = 600
_UNKNOWN: typing.Final = "0"


async def own_invites(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    guild_id: int,
    contents: Iterable[str],
    rest: Callable[[], Awaitable[hikari.api.RESTClient]],
) -> frozenset[str]:
    """The codes in `contents` that are invites to `guild_id`, lowercased as automod's rule
    compares them."""
    codes = list(dict.fromkeys(c for text in contents for c in invite_codes_as_written(text)))
    if not codes:
        return frozenset()
    keys = [keyspace.key("invite_guild", code) for code in codes]
    cached = await redis.mget(keys)
    guilds: dict[str, str] = {}
    missing = []
    for code, value in zip(codes, cached, strict=True):
        if value is None:
            missing.append(code)
        else:
            guilds[code] = value.decode() if isinstance(value, bytes) else str(value)
    if missing:
        client = await rest()
        for code in missing[:MAX_LOOKUPS]:
            found = await _resolve(client, code)
            if found is None:
                continue
            guilds[code] = found
            seconds = UNKNOWN_SECONDS if found == _UNKNOWN else KNOWN_SECONDS
            await redis.set(keyspace.key("invite_guild", code), found, ex=seconds)
    return frozenset(code.lower() for code, guild in guilds.items() if guild == str(guild_id))


async def _resolve(rest: hikari.api.RESTClient, code: str) -> str | None:
    """The code's guild id as text, `"0"` when Discord knows no such invite (or it leads to
    no guild), None when Discord could not say."""
    try:
        invite = await rest.fetch_invite(code)
    except hikari.NotFoundError:
        return _UNKNOWN
    except (hikari.HikariError, TimeoutError) as error:
        _log.info("automod.invite_unresolved", code_length=len(code), error=str(error))
        return None
    return _UNKNOWN if invite.guild_id is None else str(int(invite.guild_id))
