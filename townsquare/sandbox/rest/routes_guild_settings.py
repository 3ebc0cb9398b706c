"""Changing a guild's settings: `PATCH /guilds/{guild_id}` (only `verification_level` so far).

Discord's rules: MANAGE_GUILD, a level 0-4 (else 400 50035), one GUILD_UPDATE with the guild
as it is now; answers the guild.
"""

from __future__ import annotations

import typing

from aiohttp import web

from townsquare.sandbox.intents import Intent
from townsquare.sandbox.rest.common import bot_member, find_guild, json_body
from townsquare.sandbox.rest.errors import DiscordError, form_error, json_response
from townsquare.sandbox.world import payloads
from townsquare.sandbox.world.permissions import Permission, guild_permissions
from townsquare.sandbox.world.state import Dispatch

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World

__all__ = ["routes"]


def routes(world: World) -> list[web.RouteDef]:
    async def edit_guild(request: web.Request) -> web.Response:
        guild = find_guild(world, request)
        body = await json_body(request)
        if not guild_permissions(guild, bot_member(world, guild)) & Permission.MANAGE_GUILD:
            raise DiscordError.missing_permissions()
        if "verification_level" in body:
            level = body["verification_level"]
            if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 4:
                raise form_error(
                    "verification_level",
                    "BASE_TYPE_CHOICES",
                    "Value must be one of (0, 1, 2, 3, 4).",
                )
            guild.verification_level = level
        data = payloads.guild_payload(guild)
        world.emit(Dispatch("GUILD_UPDATE", guild.id, Intent.GUILDS, data))
        return json_response(data)

    return [web.patch("/api/v10/guilds/{guild_id}", edit_guild)]
