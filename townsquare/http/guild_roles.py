"""A guild's roles for the dashboard's role pickers, asked of Discord with the bot's token.

`GET /guilds/{id}/roles` answers with every role of the guild. The pickers offer the roles a
member can be given: not `@everyone` (its id is the guild's) and not managed ones (a bot's or
an integration's own role, which Discord gives and takes itself). They come highest first, as
in Discord's role list. The answer is cached in Redis (`guild_roles`, 60 s), so a role made in
Discord shows within a minute and a page view costs Discord nothing most of the time.

When Discord cannot be asked (unreachable, an error, the bot not in the guild), the result is
None and the pages let the admin type role ids instead: nothing is refused for it.
"""

from __future__ import annotations

import dataclasses
import json
import typing

import aiohttp
import structlog

from townsquare.core.discord import DiscordTargetError, resolve_discord_target
from townsquare.http.state import state

__all__ = ["ROLES_TIMEOUT", "RoleOption", "guild_roles"]

ROLES_TIMEOUT: typing.Final = aiohttp.ClientTimeout(total=5)
_FAMILY: typing.Final = "guild_roles"

log = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class RoleOption:
    id: int
    name: str


async def guild_roles(guild_id: int) -> list[RoleOption] | None:
    """The roles a picker offers for `guild_id`, highest first; None when Discord can't say."""
    app_state = state()
    redis = app_state.require_redis()
    cache_key = app_state.keyspace.key(_FAMILY, guild_id)
    cached = await redis.get(cache_key)
    if cached is not None:
        return [RoleOption(**entry) for entry in json.loads(cached)]
    raw = await _fetch(guild_id)
    if raw is None:
        return None
    roles = _assignable(raw, guild_id)
    payload = json.dumps([dataclasses.asdict(role) for role in roles])
    await redis.set(cache_key, payload, ex=app_state.keyspace.ttl(_FAMILY))
    return roles


async def _fetch(guild_id: int) -> list[typing.Any] | None:
    app_state = state()
    try:
        target = app_state.discord or resolve_discord_target(app_state.settings)
    except DiscordTargetError:
        return None
    url = f"{target.rest_url.rstrip('/')}/guilds/{guild_id}/roles"
    headers = {"Authorization": f"Bot {target.token.get_secret_value()}"}
    try:
        async with app_state.require_client().get(
            url, headers=headers, timeout=ROLES_TIMEOUT
        ) as reply:
            if reply.status != 200:
                log.warning("guild_roles_refused", guild_id=guild_id, status=reply.status)
                return None
            body = await reply.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        log.warning("guild_roles_unreachable", guild_id=guild_id, error=type(error).__name__)
        return None
    return body if isinstance(body, list) else None


def _assignable(raw: list[typing.Any], guild_id: int) -> list[RoleOption]:
    ranked: list[tuple[int, RoleOption]] = []
    for entry in raw:
        try:
            role_id = int(entry["id"])
            if role_id == guild_id or entry.get("managed"):
                continue
            option = RoleOption(role_id, str(entry["name"]))
            ranked.append((int(entry.get("position", 0)), option))
        except (KeyError, TypeError, ValueError):
            continue  # a role Discord described in a way we do not know: not offered
    ranked.sort(key=lambda pair: (-pair[0], pair[1].id))
    return [option for _, option in ranked]
