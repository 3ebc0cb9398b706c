"""Control routes that play the moderation scenarios at once: a spam wave and a raid.

- `POST /_sandbox/scenarios/spam-wave` `{"guild_id"?, "channel_id"?, "members"? (3),
  "messages"? (8)}`: that many members (ordinary ones, no roles) each post that many copies of
  a spam line in the channel (`general` by default), back to back, as a spam wave does.
- `POST /_sandbox/scenarios/raid` `{"guild_id"?, "accounts"? (10)}`: that many brand-new
  accounts (made now, so days old: 0) join the guild back to back (GUILD_MEMBER_ADD each).

Both answer what they did (message ids, or user ids), so a test can compare the bot's
response with them.
"""

from __future__ import annotations

import typing

from aiohttp import web

from townsquare.sandbox.control.common import ControlError, find_guild, read_json, snowflake
from townsquare.sandbox.crowd.script import SPAM_LINES
from townsquare.sandbox.rest.errors import json_response
from townsquare.sandbox.world.members import join_guild

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World

__all__ = ["routes"]


def _count(body: dict[str, typing.Any], key: str, default: int, most: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise ControlError(400, f"{key} must be an integer 1..{most}")
    return value


def routes(prefix: str, world: World) -> list[web.RouteDef]:
    async def spam_wave(request: web.Request) -> web.Response:
        body = await read_json(request)
        guild = find_guild(world, body)
        members, messages = _count(body, "members", 3, 100), _count(body, "messages", 8, 100)
        if "channel_id" in body:
            channel = guild.channels.get(snowflake(body, "channel_id"))
        else:
            channel = next((c for c in guild.channels.values() if c.name == "general"), None)
        if channel is None:
            raise ControlError(404, "no such channel in the guild")
        bot = world.application.bot_user_id
        plain = [
            m.user_id
            for m in guild.members.values()
            if not m.role_ids and m.user_id not in {bot, guild.owner_id}
        ][:members]
        posted: dict[str, list[str]] = {}
        for index, author in enumerate(plain):
            line = SPAM_LINES[index % len(SPAM_LINES)]
            posted[str(author)] = [
                str(world.create_message(channel, author, line).id) for _ in range(messages)
            ]
        return json_response({"channel_id": str(channel.id), "posted": posted})

    async def raid(request: web.Request) -> web.Response:
        body = await read_json(request)
        guild = find_guild(world, body)
        accounts = _count(body, "accounts", 10, 1000)
        first = len(world.users)
        joined = [
            str(join_guild(world, guild, world.create_user(f"raider{first + n}")).user_id)
            for n in range(accounts)
        ]
        return json_response({"joined": joined})

    return [
        web.post(prefix + "/scenarios/spam-wave", spam_wave),
        web.post(prefix + "/scenarios/raid", raid),
    ]
