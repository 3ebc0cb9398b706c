"""A guild's roles and text channels for the dashboard's pickers, asked of Discord as the bot.

`GET /guilds/{id}/roles` and `GET /guilds/{id}/channels` (bot token) answer with every role and
channel of the guild. The pickers offer what a setting can use:

- roles a member can be given: not `@everyone` (its id is the guild's) and not managed ones (a
  bot's or an integration's own role, which Discord gives and takes itself), highest first, as
  in Discord's role list;
- channels a notice can go to: text and announcement channels, in Discord's order (by
  category, then position). The bot's permissions in them are not checked here.

Each answer is cached in Redis for 60 s (`guild_roles`, `guild_channels`), so something made in
Discord shows within a minute and a page view costs Discord nothing most of the time. When
Discord cannot be asked (unreachable, an error, the bot not in the guild), the result is None
and the pages let the admin type ids instead: nothing is refused for it. That failure is cached
too, for :data:`FAILURE_SECONDS`, so pages do not wait for an unreachable Discord each time.
"""

from __future__ import annotations

import dataclasses
import json
import typing

import aiohttp
import structlog

from townsquare.core.discord import DiscordTargetError, resolve_discord_target
from townsquare.http.state import state

__all__ = [
    "ANSWER_SECONDS",
    "FAILURE_SECONDS",
    "LOOKUP_TIMEOUT",
    "Option",
    "guild_roles",
    "guild_text_channels",
]

LOOKUP_TIMEOUT: typing.Final = aiohttp.ClientTimeout(total=3)
ANSWER_SECONDS: typing.Final = 60
"""How long Discord's answer is used before it is asked again."""
FAILURE_SECONDS: typing.Final = 10
"""How long a failed lookup is remembered before Discord is asked again."""
_FAILED: typing.Final = b"null"
_TEXT_CHANNEL_TYPES: typing.Final = frozenset({0, 5})  # GUILD_TEXT, GUILD_ANNOUNCEMENT
_CATEGORY: typing.Final = 4

log = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Option:
    """A role or channel a picker offers."""

    id: int
    name: str


async def guild_roles(guild_id: int) -> list[Option] | None:
    """The roles a picker offers for `guild_id`, highest first; None when Discord can't say."""
    return await _cached(guild_id, "guild_roles", "roles", _assignable_roles)


async def guild_text_channels(guild_id: int) -> list[Option] | None:
    """The text channels a picker offers (names with `#`); None when Discord can't say."""
    return await _cached(guild_id, "guild_channels", "channels", _text_channels)


async def _cached(
    guild_id: int,
    family: str,
    path: str,
    pick: typing.Callable[[list[typing.Any], int], list[Option]],
) -> list[Option] | None:
    app_state = state()
    redis = app_state.require_redis()
    cache_key = app_state.keyspace.key(family, guild_id)
    cached = await redis.get(cache_key)
    if cached == _FAILED:
        return None
    if cached is not None:
        return [Option(**entry) for entry in json.loads(cached)]
    raw = await _fetch(guild_id, path)
    if raw is None:
        await redis.set(cache_key, _FAILED, ex=FAILURE_SECONDS)
        return None
    options = pick(raw, guild_id)
    payload = json.dumps([dataclasses.asdict(option) for option in options])
    await redis.set(cache_key, payload, ex=ANSWER_SECONDS)
    return options


async def _fetch(guild_id: int, path: str) -> list[typing.Any] | None:
    app_state = state()
    try:
        target = app_state.discord or resolve_discord_target(app_state.settings)
    except DiscordTargetError:
        return None
    url = f"{target.rest_url.rstrip('/')}/guilds/{guild_id}/{path}"
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
            body = await reply.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        log.warning(
            "guild_lookup_unreachable", path=path, guild_id=guild_id, error=type(error).__name__
        )
        return None
    return body if isinstance(body, list) else None


def _assignable_roles(raw: list[typing.Any], guild_id: int) -> list[Option]:
    ranked: list[tuple[int, Option]] = []
    for entry in raw:
        try:
            role_id = int(entry["id"])
            if role_id == guild_id or entry.get("managed"):
                continue
            ranked.append((int(entry.get("position", 0)), Option(role_id, str(entry["name"]))))
        except (KeyError, TypeError, ValueError):
            continue  # a role Discord described in a way we do not know: not offered
    ranked.sort(key=lambda pair: (-pair[0], pair[1].id))
    return [option for _, option in ranked]


def _text_channels(raw: list[typing.Any], _guild_id: int) -> list[Option]:
    categories: dict[int, int] = {}
    channels: list[tuple[int, int, int, Option]] = []
    for entry in raw:
        try:
            kind, channel_id = int(entry["type"]), int(entry["id"])
            position = int(entry.get("position", 0))
            if kind == _CATEGORY:
                categories[channel_id] = position
            elif kind in _TEXT_CHANNEL_TYPES:
                parent = int(entry.get("parent_id") or 0)
                option = Option(channel_id, f"#{entry['name']}")
                channels.append((parent, position, channel_id, option))
        except (KeyError, TypeError, ValueError):
            continue  # a channel Discord described in a way we do not know: not offered
    # Discord's order: channels outside a category first, then by category, then position.
    channels.sort(key=lambda c: (-1 if c[0] == 0 else categories.get(c[0], 0), c[1], c[2]))
    return [option for *_, option in channels]
