"""Guild reads and member role changes, with Discord's role hierarchy rules."""

from __future__ import annotations

import typing

from aiohttp import web

from townsquare.sandbox.rest.common import (
    audit,
    bot_member,
    find_guild,
    find_member,
    find_role,
    int_query,
)
from townsquare.sandbox.rest.errors import DiscordError, form_error, json_response
from townsquare.sandbox.world import payloads
from townsquare.sandbox.world.audit import AuditAction
from townsquare.sandbox.world.permissions import Permission, guild_permissions, top_role_position

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.models import Guild, Member, Role

__all__ = ["routes"]


def routes(world: World) -> list[web.RouteDef]:
    async def get_guild(request: web.Request) -> web.Response:
        guild = find_guild(world, request)
        body = payloads.guild_payload(guild)
        if request.query.get("with_counts", "").lower() == "true":
            body |= {
                "approximate_member_count": len(guild.members),
                "approximate_presence_count": 0,
            }
        return json_response(body)

    async def list_channels(request: web.Request) -> web.Response:
        guild = find_guild(world, request)
        return json_response([payloads.channel_payload(c) for c in guild.channels.values()])

    async def list_roles(request: web.Request) -> web.Response:
        guild = find_guild(world, request)
        roles = sorted(guild.roles.values(), key=lambda r: r.position)
        return json_response([payloads.role_payload(r) for r in roles])

    async def list_members(request: web.Request) -> web.Response:
        guild = find_guild(world, request)
        limit = request.query.get("limit", "1")
        after = request.query.get("after", "0")
        if not limit.isdigit() or not 1 <= int(limit) <= 1000:
            raise form_error("limit", "NUMBER_TYPE_MAX", "int value should be between 1 and 1000.")
        if not after.isdigit():
            raise form_error("after", "NUMBER_TYPE_COERCE", f'Value "{after}" is not snowflake.')
        members = sorted(
            (m for m in guild.members.values() if m.user_id > int(after)), key=lambda m: m.user_id
        )
        return json_response([world.member_payload(m) for m in members[: int(limit)]])

    async def search_members(request: web.Request) -> web.Response:
        """Members whose username, global name or nick starts with `query` (case-insensitive);
        `limit` 1..1000, default 1."""
        guild = find_guild(world, request)
        query = request.query.get("query", "")
        if not query:
            raise form_error("query", "BASE_TYPE_REQUIRED", "This field is required")
        limit = int_query(request, "limit", 1, 1, 1000)
        wanted = query.casefold()

        def matches(user_id: int) -> bool:
            user, member = world.users[user_id], guild.members[user_id]
            names = (user.username, user.global_name or "", member.nick or "")
            return any(n.casefold().startswith(wanted) for n in names)

        found = [guild.members[u] for u in sorted(guild.members) if matches(u)][:limit]
        return json_response([world.member_payload(m) for m in found])

    async def get_member(request: web.Request) -> web.Response:
        guild = find_guild(world, request)
        return json_response(world.member_payload(find_member(guild, request)))

    def role_change(
        change: typing.Callable[[Guild, Member, Role], object],
    ) -> typing.Callable[[web.Request], typing.Awaitable[web.Response]]:
        """PUT or DELETE a member's role: both need MANAGE_ROLES and a role below the bot's."""

        async def handler(request: web.Request) -> web.Response:
            guild = find_guild(world, request)
            member = find_member(guild, request)
            role = find_role(guild, request)
            _require_manageable(world, guild, role)
            had = list(member.role_ids)
            change(guild, member, role)
            if member.role_ids != had:
                audit(world, guild, request, AuditAction.MEMBER_ROLE_UPDATE, member.user_id)
            return web.Response(status=204)

        return handler

    add_role = role_change(world.add_member_role)
    remove_role = role_change(world.remove_member_role)

    guild = "/api/v10/guilds/{guild_id}"
    member_role = guild + "/members/{user_id}/roles/{role_id}"
    return [
        web.get(guild, get_guild),
        web.get(guild + "/channels", list_channels),
        web.get(guild + "/roles", list_roles),
        web.get(guild + "/members", list_members),
        web.get(guild + "/members/search", search_members),
        web.get(guild + "/members/{user_id}", get_member),
        web.put(member_role, add_role),
        web.delete(member_role, remove_role),
    ]


def _require_manageable(world: World, guild: Guild, role: Role) -> None:
    """The bot needs MANAGE_ROLES and a top role above `role`; managed roles are never given."""
    me = bot_member(world, guild)
    if not guild_permissions(guild, me) & Permission.MANAGE_ROLES:
        raise DiscordError.missing_permissions()
    if me.user_id != guild.owner_id and role.position >= top_role_position(guild, me):
        raise DiscordError.missing_permissions()
    if role.managed or role.id == guild.id:
        raise DiscordError.missing_permissions()
