"""A guild's roles and channels, asked of Discord as the bot: for the dashboard's pickers and
for the checks every saved reference passes (`townsquare.core.config.references`).

`GET /guilds/{id}/roles` and `GET /guilds/{id}/channels` (bot token) answer with every role and
channel of the guild, and `GET /guilds/{id}/members/{bot id}` with the bot's own roles (its
highest one bounds what it may grant). The pickers offer what a setting can use:

- roles a member can be given: not `@everyone` (its id is the guild's) and not managed ones (a
  bot's or an integration's own role, which Discord gives and takes itself), highest first, as
  in Discord's role list;
- channels a notice can go to: text and announcement channels, in Discord's order (by
  category, then position). The bot's permissions in them are not checked here.

Each answer is cached in Redis for 60 s (`guild_roles`, `guild_channels`), so something made in
Discord shows within a minute and a page view costs Discord nothing most of the time. When
Discord cannot be asked (unreachable, an error, the bot not in the guild), the result is None:
the pages let the admin type ids instead and take them unchecked, the JSON API refuses changes
that add roles or channels with 503 (`config_changes`). That failure is cached too, for
:data:`FAILURE_SECONDS`, so pages do not wait for an unreachable Discord each time. The bot's
user id (`GET /users/@me`) is asked once per process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import typing

import aiohttp
import structlog

from townsquare.core.config.references import GuildChannel, GuildChannels, GuildRole, GuildRoles
from townsquare.core.discord import DiscordTargetError, resolve_discord_target
from townsquare.http.state import state

__all__ = [
    "ANSWER_SECONDS",
    "FAILURE_SECONDS",
    "LOOKUP_TIMEOUT",
    "PROFILE_SECONDS",
    "MemberProfile",
    "Option",
    "guild_channel_facts",
    "guild_member_profiles",
    "guild_role_facts",
    "guild_roles",
    "guild_text_channels",
]

LOOKUP_TIMEOUT: typing.Final = aiohttp.ClientTimeout(total=3)
ANSWER_SECONDS: typing.Final = 60
"""How long Discord's answer is used before it is asked again."""
FAILURE_SECONDS: typing.Final = 10
"""How long a failed lookup is remembered before Discord is asked again."""
_FAILED: typing.Final = b"null"
PROFILE_SECONDS: typing.Final = 600
"""How long a member's name and avatar are shown before Discord is asked again."""
_AVATAR_URL: typing.Final = "https://cdn.discordapp.com/avatars/{user}/{avatar}.png?size=64"

log = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Option:
    """A role or channel a picker offers."""

    id: int
    name: str


async def guild_roles(guild_id: int) -> list[Option] | None:
    """The roles a picker offers for `guild_id`, highest first; None when Discord can't say."""
    facts = await guild_role_facts(guild_id)
    if facts is None:
        return None
    return [Option(role.id, role.name) for role in facts.assignable()]


async def guild_text_channels(guild_id: int) -> list[Option] | None:
    """The text channels a picker offers (names with `#`); None when Discord can't say."""
    facts = await guild_channel_facts(guild_id)
    if facts is None:
        return None
    return [Option(channel.id, f"#{channel.name}") for channel in facts.text()]


@dataclasses.dataclass(frozen=True, slots=True)
class MemberProfile:
    """How a member looks in the guild: the public leaderboard page's names and avatars."""

    user_id: int
    name: str
    """Their nickname here, else their display name, else their username; for a member
    Discord did not give (left, or Discord unreachable), `Member <last 4 digits of the id>`."""
    avatar_url: str | None
    """Discord's CDN address of their avatar (guild avatar first); None without one."""


async def guild_member_profiles(guild_id: int, user_ids: list[int]) -> dict[int, MemberProfile]:
    """`user_ids`' profiles in `guild_id`: each from its cache (`guild_member_profile`) or
    from Discord (`GET /guilds/{id}/members/{user}`, asked side by side)."""
    app_state = state()
    redis = app_state.require_redis()
    keys = [app_state.keyspace.key("guild_member_profile", guild_id, user) for user in user_ids]
    cached = await redis.mget(keys) if keys else []
    found: dict[int, MemberProfile] = {}
    missing = []
    for user, raw in zip(user_ids, cached, strict=True):
        if raw is None:
            missing.append(user)
            continue
        entry = json.loads(raw)
        found[user] = MemberProfile(user, entry["name"], entry["avatar_url"])
    answers = await asyncio.gather(
        *(_fetch(f"guilds/{guild_id}/members/{user}", guild_id) for user in missing)
    )
    async with redis.pipeline(transaction=False) as pipe:
        for user, answer in zip(missing, answers, strict=True):
            profile = _profile(guild_id, user, answer)
            found[user] = profile
            pipe.set(
                app_state.keyspace.key("guild_member_profile", guild_id, user),
                json.dumps({"name": profile.name, "avatar_url": profile.avatar_url}),
                ex=PROFILE_SECONDS if isinstance(answer, dict) else FAILURE_SECONDS * 6,
            )
        await pipe.execute()
    return found


def _profile(guild_id: int, user_id: int, answer: typing.Any) -> MemberProfile:
    unknown = MemberProfile(user_id, f"Member {str(user_id)[-4:]}", None)
    if not isinstance(answer, dict) or not isinstance(answer.get("user"), dict):
        return unknown
    user = answer["user"]
    name = answer.get("nick") or user.get("global_name") or user.get("username")
    if not isinstance(name, str) or not name:
        return unknown
    avatar_url = None
    if isinstance(answer.get("avatar"), str):
        avatar_url = (
            f"https://cdn.discordapp.com/guilds/{guild_id}/users/{user_id}/avatars/"
            f"{answer['avatar']}.png?size=64"
        )
    elif isinstance(user.get("avatar"), str):
        avatar_url = _AVATAR_URL.format(user=user_id, avatar=user["avatar"])
    return MemberProfile(user_id, name, avatar_url)


async def guild_role_facts(guild_id: int) -> GuildRoles | None:
    """Every role of the guild and the bot's highest; None when Discord can't say."""
    cached = await _cached(guild_id, "guild_roles", _fetch_roles)
    if cached is not None and any("permissions" not in entry for entry in cached["roles"]):
        # Written by a version that did not keep permissions: the level rewards' check of
        # dangerous permissions needs them, so ask Discord again.
        app_state = state()
        await app_state.require_redis().delete(app_state.keyspace.key("guild_roles", guild_id))
        cached = await _cached(guild_id, "guild_roles", _fetch_roles)
    if cached is None:
        return None
    roles = tuple(GuildRole(**entry) for entry in cached["roles"])
    top = next((role for role in roles if role.id == cached["bot_top"]), None)
    return GuildRoles(guild_id, roles, top)


async def guild_channel_facts(guild_id: int) -> GuildChannels | None:
    """Every channel of the guild; None when Discord can't say."""
    cached = await _cached(guild_id, "guild_channels", _fetch_channels)
    if cached is None:
        return None
    return GuildChannels(tuple(GuildChannel(**entry) for entry in cached["channels"]))


async def _cached(
    guild_id: int,
    family: str,
    fetch: typing.Callable[[int], typing.Awaitable[dict[str, typing.Any] | None]],
) -> dict[str, typing.Any] | None:
    app_state = state()
    redis = app_state.require_redis()
    cache_key = app_state.keyspace.key(family, guild_id)
    cached = await redis.get(cache_key)
    if cached == _FAILED:
        return None
    if cached is not None:
        found = json.loads(cached)
        if isinstance(found, dict):  # else written by an older version: ask again
            return found
    facts = await fetch(guild_id)
    if facts is None:
        await redis.set(cache_key, _FAILED, ex=FAILURE_SECONDS)
        return None
    await redis.set(cache_key, json.dumps(facts), ex=ANSWER_SECONDS)
    return facts


async def _fetch_roles(guild_id: int) -> dict[str, typing.Any] | None:
    bot_id = await _bot_user_id()
    if bot_id is None:
        return None
    raw, member = await asyncio.gather(
        _fetch(f"guilds/{guild_id}/roles", guild_id),
        _fetch(f"guilds/{guild_id}/members/{bot_id}", guild_id),
    )
    # Without the bot's own roles, what it may grant is unknown: Discord "can't say".
    if not isinstance(raw, list) or not isinstance(member, dict):
        return None
    roles = _roles(raw)
    listed = member.get("roles")
    held = {int(r) for r in listed if str(r).isdecimal()} if isinstance(listed, list) else set()
    mine = [role for role in roles if role.id in held]
    top = max(mine, key=lambda role: (role.position, -role.id), default=None)
    return {
        "roles": [dataclasses.asdict(role) for role in roles],
        "bot_top": top.id if top is not None else None,
    }


async def _fetch_channels(guild_id: int) -> dict[str, typing.Any] | None:
    raw = await _fetch(f"guilds/{guild_id}/channels", guild_id)
    if not isinstance(raw, list):
        return None
    return {"channels": [dataclasses.asdict(channel) for channel in _channels(raw)]}


async def _bot_user_id() -> int | None:
    """The bot's user id (`GET /users/@me`), asked once per process."""
    app_state = state()
    if app_state.bot_user_id is None:
        me = await _fetch("users/@me", None)
        if isinstance(me, dict) and str(me.get("id", "")).isdecimal():
            app_state.bot_user_id = int(me["id"])
    return app_state.bot_user_id


async def _fetch(path: str, guild_id: int | None) -> typing.Any:
    """Discord's JSON answer to `GET <rest base>/<path>` with the bot token; None on failure."""
    app_state = state()
    try:
        target = app_state.discord or resolve_discord_target(app_state.settings)
    except DiscordTargetError:
        return None
    url = f"{target.rest_url.rstrip('/')}/{path}"
    headers = {"Authorization": f"Bot {target.token.get_secret_value()}"}
    try:
        async with app_state.require_client().get(
            url, headers=headers, timeout=LOOKUP_TIMEOUT
        ) as reply:
            if reply.status != 200:
                log.warning(
                    "guild_lookup_refused", path=path, guild_id=guild_id, status=reply.status
                )
                return None
            return await reply.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        log.warning(
            "guild_lookup_unreachable", path=path, guild_id=guild_id, error=type(error).__name__
        )
        return None


def _roles(raw: list[typing.Any]) -> list[GuildRole]:
    roles = []
    for entry in raw:
        try:
            roles.append(
                GuildRole(
                    id=int(entry["id"]),
                    name=str(entry["name"]),
                    position=int(entry.get("position", 0)),
                    managed=bool(entry.get("managed")),
                    permissions=int(entry.get("permissions") or 0),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue  # a role Discord described in a way we do not know: left out
    return roles


def _channels(raw: list[typing.Any]) -> list[GuildChannel]:
    channels = []
    for entry in raw:
        try:
            channels.append(
                GuildChannel(
                    id=int(entry["id"]),
                    name=str(entry["name"]),
                    type=int(entry["type"]),
                    parent_id=int(entry.get("parent_id") or 0),
                    position=int(entry.get("position", 0)),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue  # a channel Discord described in a way we do not know: left out
    return channels
