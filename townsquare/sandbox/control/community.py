"""Control routes that act as the community: members joining and leaving, voice, roles.

Each change goes through the world, which emits the gateway dispatches Discord would send
(GUILD_MEMBER_ADD/REMOVE, VOICE_STATE_UPDATE, GUILD_ROLE_CREATE/UPDATE/DELETE). Role changes
are made by `actor_id` (the owner when absent; :func:`~.acting.acting_member`), who needs
Manage Roles and, to edit or delete a role, a top role above it; each is an audit-log entry by
them (ROLE_CREATE/UPDATE/DELETE).
"""

from __future__ import annotations

import typing

from aiohttp import web

from townsquare.sandbox.control.acting import acting_member
from townsquare.sandbox.control.common import ControlError, find_guild, flag, read_json, snowflake
from townsquare.sandbox.rest.errors import json_response
from townsquare.sandbox.world import payloads
from townsquare.sandbox.world.audit import AuditAction, record_audit
from townsquare.sandbox.world.members import join_guild, leave_guild
from townsquare.sandbox.world.models import ChannelType
from townsquare.sandbox.world.permissions import Permission, top_role_position
from townsquare.sandbox.world.roles import create_role, delete_role, update_role
from townsquare.sandbox.world.voice import set_voice_state

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.models import Channel, Guild, Member, Role, User

__all__ = ["routes"]


def routes(prefix: str, world: World) -> list[web.RouteDef]:
    async def join(request: web.Request) -> web.Response:
        """`{"guild_id"?, "username"}` (a new or known person) or `{"guild_id"?, "user_id"}`."""
        body = await read_json(request)
        guild = find_guild(world, body)
        user = _joining_user(world, body)
        if user.id in guild.bans:
            raise ControlError(403, f"user {user.id} is banned from guild {guild.id}")
        if user.id in guild.members:
            raise ControlError(409, f"user {user.id} is already a member of guild {guild.id}")
        return json_response(world.member_payload(join_guild(world, guild, user)))

    async def leave(request: web.Request) -> web.Response:
        """`{"guild_id"?, "user_id"}`: the member leaves the guild."""
        body = await read_json(request)
        guild = find_guild(world, body)
        member = _member(world, guild, body)
        if member.user_id == world.application.bot_user_id:
            raise ControlError(400, "the bot cannot be made to leave")
        leave_guild(world, guild, member)
        return json_response({"left": str(member.user_id)})

    async def voice(request: web.Request) -> web.Response:
        """`{"guild_id"?, "user_id", "channel_id"?, "self_mute"?, "self_deaf"?, "mute"?, "deaf"?}`.

        `channel_id` joins or moves; null leaves voice; absent keeps the channel (for mute and
        deafen changes of a member already in voice).
        """
        body = await read_json(request)
        guild = find_guild(world, body)
        member = _member(world, guild, body)
        channel = _voice_target(guild, member, body)
        state = set_voice_state(
            world,
            guild,
            member,
            channel,
            self_mute=flag(body, "self_mute"),
            self_deaf=flag(body, "self_deaf"),
            mute=flag(body, "mute"),
            deaf=flag(body, "deaf"),
        )
        return json_response(payloads.voice_state_payload(state))

    async def new_role(request: web.Request) -> web.Response:
        """`{"guild_id"?, "name", "permissions"?, "color"?, "hoist"?, "mentionable"?,
        "position"?}`; `permissions` as names or a bitfield."""
        body = await read_json(request)
        guild = find_guild(world, body)
        actor = acting_member(world, guild, body, Permission.MANAGE_ROLES)
        name, position = _name(body) or "", _position(body)
        role = create_role(
            world,
            guild,
            name=name,
            permissions=_permissions(body) or 0,
            color=_color(body) or 0,
            hoist=bool(flag(body, "hoist")),
            mentionable=bool(flag(body, "mentionable")),
            position=position,
        )
        _audit(world, guild, AuditAction.ROLE_CREATE, actor, role)
        return json_response(payloads.role_payload(role))

    async def change_role(request: web.Request) -> web.Response:
        body = await read_json(request)
        guild, role = _role(world, request, body)
        actor = _role_manager(world, guild, role, body)
        name = _name(body, required=False)
        update_role(
            world,
            guild,
            role,
            name=name,
            permissions=_permissions(body),
            color=_color(body),
            hoist=flag(body, "hoist"),
            mentionable=flag(body, "mentionable"),
        )
        _audit(world, guild, AuditAction.ROLE_UPDATE, actor, role)
        return json_response(payloads.role_payload(role))

    async def remove_role(request: web.Request) -> web.Response:
        body = await read_json(request)
        guild, role = _role(world, request, body)
        if role.id == guild.id or role.managed:
            raise ControlError(400, "@everyone and managed roles cannot be deleted")
        actor = _role_manager(world, guild, role, body)
        delete_role(world, guild, role)
        _audit(world, guild, AuditAction.ROLE_DELETE, actor, role)
        return json_response({"deleted": str(role.id)})

    return [
        web.post(prefix + "/members", join),
        web.post(prefix + "/members/leave", leave),
        web.post(prefix + "/voice", voice),
        web.post(prefix + "/roles", new_role),
        web.patch(prefix + "/roles/{role_id}", change_role),
        web.delete(prefix + "/roles/{role_id}", remove_role),
    ]


def _joining_user(world: World, body: dict[str, typing.Any]) -> User:
    if "user_id" in body:
        user = world.users.get(snowflake(body, "user_id"))
        if user is None or user.bot:
            raise ControlError(404, f"no person {body['user_id']}")
        return user
    username = body.get("username")
    if not isinstance(username, str) or not 2 <= len(username) <= 32:
        raise ControlError(400, "give user_id, or a username of 2 to 32 characters")
    known = world.user_named(username)
    if known is not None and known.bot:
        raise ControlError(400, f"{username!r} is a bot")
    return known or world.create_user(username)


def _member(world: World, guild: Guild, body: dict[str, typing.Any]) -> Member:
    user_id = snowflake(body, "user_id")
    member = guild.members.get(user_id)
    if member is None:
        raise ControlError(404, f"user {user_id} is not a member of guild {guild.id}")
    return member


def _voice_target(guild: Guild, member: Member, body: dict[str, typing.Any]) -> Channel | None:
    current = guild.voice_states.get(member.user_id)
    if "channel_id" not in body:
        if current is None or current.channel_id is None:
            raise ControlError(400, "the member is not in voice; give channel_id to join")
        return guild.channels[current.channel_id]
    if body["channel_id"] is None:
        if current is None:
            raise ControlError(400, "the member is not in voice")
        return None
    channel = guild.channels.get(snowflake(body, "channel_id"))
    if channel is None or channel.type is not ChannelType.GUILD_VOICE:
        raise ControlError(404, f"no voice channel {body['channel_id']} in guild {guild.id}")
    occupants = sum(
        1 for v in guild.voice_states.values() if v.channel_id == channel.id != v.user_id
    )
    already_there = current is not None and current.channel_id == channel.id
    if channel.user_limit and not already_there and occupants >= channel.user_limit:
        raise ControlError(409, f"voice channel {channel.name!r} is full")
    return channel


def _role(world: World, request: web.Request, body: dict[str, typing.Any]) -> tuple[Guild, Role]:
    guild = find_guild(world, body)
    raw = request.match_info["role_id"]
    role = guild.roles.get(int(raw)) if raw.isdigit() else None
    if role is None:
        raise ControlError(404, f"no role {raw} in guild {guild.id}")
    return guild, role


def _name(body: dict[str, typing.Any], *, required: bool = True) -> str | None:
    name = body.get("name")
    if (name is not None or required) and (not isinstance(name, str) or not 1 <= len(name) <= 100):
        raise ControlError(400, "name must be a string of 1 to 100 characters")
    return name


def _position(body: dict[str, typing.Any]) -> int:
    position = body.get("position", 1)
    if not isinstance(position, int) or isinstance(position, bool) or position < 1:
        raise ControlError(400, "position must be an integer of at least 1")
    return position


def _role_manager(world: World, guild: Guild, role: Role, body: dict[str, typing.Any]) -> Member:
    """The member changing `role`: Manage Roles and a top role above it (or the owner)."""
    actor = acting_member(world, guild, body, Permission.MANAGE_ROLES)
    if actor.user_id != guild.owner_id and role.position >= top_role_position(guild, actor):
        raise ControlError(403, f"role {role.name!r} is not below the member's top role")
    return actor


def _audit(world: World, guild: Guild, action: AuditAction, actor: Member, role: Role) -> None:
    record_audit(world, guild, action, user_id=actor.user_id, target_id=role.id)


def _permissions(body: dict[str, typing.Any]) -> int | None:
    """`permissions` as a list of names or a bitfield (integer or string); None if absent."""
    value = body.get("permissions")
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        try:
            return Permission.parse(value)
        except ValueError as error:
            raise ControlError(400, str(error)) from None
    if isinstance(value, (int, str)) and not isinstance(value, bool) and str(value).isdigit():
        return int(value)
    raise ControlError(400, "permissions must be a list of names or a bitfield")


def _color(body: dict[str, typing.Any]) -> int | None:
    color = body.get("color")
    if color is not None and (
        not isinstance(color, int) or isinstance(color, bool) or not 0 <= color <= 0xFFFFFF
    ):
        raise ControlError(400, "color must be an integer 0..0xFFFFFF")
    return color
