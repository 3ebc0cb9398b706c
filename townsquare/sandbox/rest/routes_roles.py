"""Guild roles through REST: create, read, edit, delete, with Discord's rules.

The bot needs MANAGE_ROLES; it may only edit or delete roles below its top role (the owner
excepted), and may only grant permissions it has itself (unless it is an administrator). New
roles start at position 1, just above @everyone. Violations are 403 50013.
"""

from __future__ import annotations

import typing

from aiohttp import web

from townsquare.sandbox.rest.common import audit, bot_member, find_guild, find_role, json_body
from townsquare.sandbox.rest.errors import DiscordError, ErrorCode, form_error, json_response
from townsquare.sandbox.world import payloads
from townsquare.sandbox.world.audit import AuditAction
from townsquare.sandbox.world.permissions import Permission, guild_permissions, top_role_position
from townsquare.sandbox.world.roles import create_role, delete_role, update_role

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.models import Guild, Role

__all__ = ["routes"]

_MAX_NAME: typing.Final[int] = 100


def routes(world: World) -> list[web.RouteDef]:
    async def create(request: web.Request) -> web.Response:
        guild = find_guild(world, request)
        body = await json_body(request)
        fields = _fields(world, guild, body)
        role = create_role(
            world,
            guild,
            name=fields.get("name") or "new role",
            permissions=fields.get("permissions", guild.everyone_role.permissions),
            color=fields.get("color", 0),
            hoist=fields.get("hoist", False),
            mentionable=fields.get("mentionable", False),
        )
        audit(world, guild, request, AuditAction.ROLE_CREATE, role.id)
        return json_response(payloads.role_payload(role))

    async def get(request: web.Request) -> web.Response:
        guild = find_guild(world, request)
        return json_response(payloads.role_payload(find_role(guild, request)))

    async def edit(request: web.Request) -> web.Response:
        guild = find_guild(world, request)
        role = find_role(guild, request)
        fields = _fields(world, guild, await json_body(request))
        _require_below_bot(world, guild, role)
        if role.id == guild.id and "name" in fields:
            raise form_error("name", "BASE_TYPE_CHOICES", "The @everyone role cannot be renamed.")
        update_role(world, guild, role, **fields)
        audit(world, guild, request, AuditAction.ROLE_UPDATE, role.id)
        return json_response(payloads.role_payload(role))

    async def delete(request: web.Request) -> web.Response:
        guild = find_guild(world, request)
        role = find_role(guild, request)
        _fields(world, guild, {})
        if role.id == guild.id:
            raise DiscordError(400, ErrorCode.INVALID_ROLE, "Invalid Role")
        _require_below_bot(world, guild, role)
        if role.managed:
            raise DiscordError.missing_permissions()
        delete_role(world, guild, role)
        audit(world, guild, request, AuditAction.ROLE_DELETE, role.id)
        return web.Response(status=204)

    base = "/api/v10/guilds/{guild_id}/roles"
    return [
        web.post(base, create),
        web.get(base + "/{role_id}", get),
        web.patch(base + "/{role_id}", edit),
        web.delete(base + "/{role_id}", delete),
    ]


def _fields(world: World, guild: Guild, body: dict[str, typing.Any]) -> dict[str, typing.Any]:
    """The role fields present in `body`, checked; needs MANAGE_ROLES, and the bot's own
    permissions to grant any."""
    me = bot_member(world, guild)
    mine = guild_permissions(guild, me)
    if not mine & Permission.MANAGE_ROLES:
        raise DiscordError.missing_permissions()
    fields: dict[str, typing.Any] = {}
    if (name := body.get("name")) is not None:
        if not isinstance(name, str) or len(name) > _MAX_NAME:
            raise form_error(
                "name", "BASE_TYPE_MAX_LENGTH", f"Must be {_MAX_NAME} or fewer in length."
            )
        fields["name"] = name
    if (raw := body.get("permissions")) is not None:
        if isinstance(raw, bool) or not str(raw).isdigit():
            raise form_error("permissions", "NUMBER_TYPE_COERCE", f'Value "{raw}" is not int.')
        permissions = int(raw)
        if permissions & ~mine and not mine & Permission.ADMINISTRATOR:
            raise DiscordError.missing_permissions()
        fields["permissions"] = permissions
    if (color := body.get("color")) is not None:
        if isinstance(color, bool) or not isinstance(color, int) or not 0 <= color <= 0xFFFFFF:
            raise form_error("color", "NUMBER_TYPE_MAX", "int value should be <= 16777215.")
        fields["color"] = color
    for flag in ("hoist", "mentionable"):
        if (value := body.get(flag)) is not None:
            if not isinstance(value, bool):
                raise form_error(flag, "BASE_TYPE_BOOLEAN", "Must be either true or false.")
            fields[flag] = value
    return fields


def _require_below_bot(world: World, guild: Guild, role: Role) -> None:
    me = bot_member(world, guild)
    if me.user_id != guild.owner_id and role.position >= top_role_position(guild, me):
        raise DiscordError.missing_permissions()
