"""Control route that makes an invite, as a member would in the Discord client.

`POST /_sandbox/invites` `{"guild_id"?, "channel_id"? (the system channel, else the first text
channel), "code"? (random), "actor_id"? (the owner)}`: the code then resolves through
`GET /invites/{code}`; the invite is an audit-log entry (INVITE_CREATE) by the actor, who needs
Create Invite. Answers `{"code", "guild_id", "channel_id"}`; a code already taken is 409.
"""

from __future__ import annotations

import re
import secrets
import typing

from aiohttp import web

from townsquare.sandbox.control.acting import acting_member
from townsquare.sandbox.control.common import ControlError, find_guild, read_json, snowflake
from townsquare.sandbox.rest.errors import json_response
from townsquare.sandbox.world.audit import AuditAction, record_audit
from townsquare.sandbox.world.models import ChannelType
from townsquare.sandbox.world.permissions import Permission

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World

__all__ = ["routes"]

_CODE: typing.Final = re.compile(r"[A-Za-z0-9-]{2,32}")


def routes(prefix: str, world: World) -> list[web.RouteDef]:
    async def create(request: web.Request) -> web.Response:
        body = await read_json(request)
        guild = find_guild(world, body)
        actor = acting_member(world, guild, body, Permission.CREATE_INSTANT_INVITE)
        if "channel_id" in body:
            channel_id = snowflake(body, "channel_id")
        else:
            texts = [c.id for c in guild.channels.values() if c.type is ChannelType.GUILD_TEXT]
            channel_id = guild.system_channel_id or (texts[0] if texts else 0)
        if channel_id not in guild.channels:
            raise ControlError(404, f"no channel {channel_id} in guild {guild.id}")
        code = body.get("code", secrets.token_urlsafe(6).replace("_", "x"))
        if not isinstance(code, str) or not _CODE.fullmatch(code):
            raise ControlError(400, "code must be 2 to 32 letters, digits or dashes")
        if any(code in g.invites for g in world.guilds.values()):
            raise ControlError(409, f"invite code {code!r} is taken")
        guild.invites[code] = channel_id
        record_audit(world, guild, AuditAction.INVITE_CREATE, user_id=actor.user_id, target_id=None)
        return json_response(
            {"code": code, "guild_id": str(guild.id), "channel_id": str(channel_id)}
        )

    return [web.post(prefix + "/invites", create)]
