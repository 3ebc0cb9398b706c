"""Moderating members: edit (nick, timeout, roles, server mute/deafen), kick, ban, unban.

Discord's rules: the needed permission (MANAGE_NICKNAMES, MODERATE_MEMBERS, MANAGE_ROLES,
MUTE_MEMBERS, DEAFEN_MEMBERS, KICK_MEMBERS, BAN_MEMBERS), then the hierarchy — the owner is
untouchable and the bot's top role must be above the target's; members with ADMINISTRATOR
cannot be timed out; a timeout ends at most 28 days ahead. Violations are 403 50013.
"""

from __future__ import annotations

import datetime
import typing
import urllib.parse

from aiohttp import web

from townsquare.sandbox.rest.common import (
    audit,
    bot_member,
    find_guild,
    find_member,
    int_query,
    json_body,
    known,
    snowflake,
)
from townsquare.sandbox.rest.errors import DiscordError, ErrorCode, form_error, json_response
from townsquare.sandbox.world import payloads
from townsquare.sandbox.world.audit import AuditAction
from townsquare.sandbox.world.members import UNSET, Unset, ban, leave_guild, unban, update_member
from townsquare.sandbox.world.models import ChannelType
from townsquare.sandbox.world.permissions import (
    Permission,
    channel_permissions,
    guild_permissions,
    top_role_position,
)
from townsquare.sandbox.world.voice import set_voice_state

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.models import Channel, Guild, Member, User

__all__ = ["MAX_DELETE_MESSAGE_SECONDS", "MAX_TIMEOUT", "routes"]

MAX_TIMEOUT: typing.Final = datetime.timedelta(days=28)
MAX_DELETE_MESSAGE_SECONDS: typing.Final[int] = 604_800
MAX_NICK: typing.Final[int] = 32


def routes(world: World) -> list[web.RouteDef]:
    async def edit_member(request: web.Request) -> web.Response:
        return await _edit_member(world, request)

    async def kick(request: web.Request) -> web.Response:
        guild = find_guild(world, request)
        member = find_member(guild, request)
        _require(world, guild, Permission.KICK_MEMBERS, member)
        leave_guild(world, guild, member)
        audit(world, guild, request, AuditAction.MEMBER_KICK, member.user_id)
        return web.Response(status=204)

    async def list_bans(request: web.Request) -> web.Response:
        guild = find_guild(world, request)
        _require(world, guild, Permission.BAN_MEMBERS, None)
        limit = int_query(request, "limit", 1000, 1, 1000)
        before = int_query(request, "before", 2**64, 0, 2**64)
        after = int_query(request, "after", 0, 0, 2**64)
        found = sorted(u for u in guild.bans if after < u < before)
        found = found[-limit:] if "before" in request.query else found[:limit]
        return json_response([_ban_payload(world, u, guild.bans[u].reason) for u in found])

    async def get_ban(request: web.Request) -> web.Response:
        guild = find_guild(world, request)
        _require(world, guild, Permission.BAN_MEMBERS, None)
        found = guild.bans.get(snowflake(request, "user_id"))
        if found is None:
            raise DiscordError.unknown(ErrorCode.UNKNOWN_BAN, "Ban")
        return json_response(_ban_payload(world, found.user_id, found.reason))

    async def create_ban(request: web.Request) -> web.Response:
        guild = find_guild(world, request)
        user = _user(world, request)
        body = await json_body(request)
        seconds = _delete_message_seconds(body)
        _require(world, guild, Permission.BAN_MEMBERS, guild.members.get(user.id), user.id)
        ban(world, guild, user, delete_message_seconds=seconds, reason=_audit_reason(request))
        audit(world, guild, request, AuditAction.MEMBER_BAN_ADD, user.id)
        return web.Response(status=204)

    async def remove_ban(request: web.Request) -> web.Response:
        guild = find_guild(world, request)
        user = _user(world, request)
        _require(world, guild, Permission.BAN_MEMBERS, None)
        if user.id not in guild.bans:
            raise DiscordError.unknown(ErrorCode.UNKNOWN_BAN, "Ban")
        unban(world, guild, user)
        audit(world, guild, request, AuditAction.MEMBER_BAN_REMOVE, user.id)
        return web.Response(status=204)

    member = "/api/v10/guilds/{guild_id}/members/{user_id}"
    bans = "/api/v10/guilds/{guild_id}/bans"
    return [
        web.patch(member, edit_member),
        web.delete(member, kick),
        web.get(bans, list_bans),
        web.get(bans + "/{user_id}", get_ban),
        web.put(bans + "/{user_id}", create_ban),
        web.delete(bans + "/{user_id}", remove_ban),
    ]


async def _edit_member(world: World, request: web.Request) -> web.Response:
    """Check every field present in the body, then apply them all (one GUILD_MEMBER_UPDATE)."""
    guild = find_guild(world, request)
    member = find_member(guild, request)
    body = await json_body(request)
    nick: str | Unset | None = UNSET
    until: datetime.datetime | Unset | None = UNSET
    if "nick" in body:
        nick = _nick(body["nick"])
        own = member.user_id == world.application.bot_user_id
        needed = Permission.CHANGE_NICKNAME if own else Permission.MANAGE_NICKNAMES
        _require(world, guild, needed, None if own else member)
    if "communication_disabled_until" in body:
        until = _timeout_end(world, body["communication_disabled_until"])
        _require(world, guild, Permission.MODERATE_MEMBERS, member)
        if until is not None and guild_permissions(guild, member) & Permission.ADMINISTRATOR:
            raise DiscordError.missing_permissions()
    role_ids = _roles(world, guild, member, body) if "roles" in body else None
    voice = {k: body[k] for k in ("mute", "deaf") if body.get(k) is not None}
    for key, value in voice.items():
        if not isinstance(value, bool):
            raise form_error(key, "BASE_TYPE_BOOLEAN", "Must be either true or false.")
        needed = Permission.MUTE_MEMBERS if key == "mute" else Permission.DEAFEN_MEMBERS
        _require(world, guild, needed, member)
    moving = "channel_id" in body
    target = _voice_target(world, guild, member, body["channel_id"]) if moving else None
    if (voice or moving) and member.user_id not in guild.voice_states:
        raise DiscordError(
            400, ErrorCode.TARGET_NOT_IN_VOICE, "Target user is not connected to voice."
        )
    roles_before = list(member.role_ids)
    others_before = (member.nick, member.communication_disabled_until)
    update_member(
        world, guild, member, nick=nick, communication_disabled_until=until, role_ids=role_ids
    )
    if member.role_ids != roles_before:
        audit(world, guild, request, AuditAction.MEMBER_ROLE_UPDATE, member.user_id)
    if (member.nick, member.communication_disabled_until) != others_before:
        audit(world, guild, request, AuditAction.MEMBER_UPDATE, member.user_id)
    if voice or moving:
        current = guild.channels[guild.voice_states[member.user_id].channel_id or 0]
        set_voice_state(
            world,
            guild,
            member,
            target if moving else current,
            mute=voice.get("mute"),
            deaf=voice.get("deaf"),
        )
    return json_response(world.member_payload(member))


def _voice_target(world: World, guild: Guild, member: Member, raw: typing.Any) -> Channel | None:
    """`channel_id` of a member edit: a voice channel to move them to (MOVE_MEMBERS, and the
    bot must be able to connect there), or null to disconnect them (MOVE_MEMBERS)."""
    _require(world, guild, Permission.MOVE_MEMBERS, member)
    if raw is None:
        return None
    channel = guild.channels.get(int(raw)) if str(raw).isdigit() else None
    if channel is None or channel.type is not ChannelType.GUILD_VOICE:
        raise form_error("channel_id", "CHANNEL_TYPE_INVALID", "Not a voice channel.")
    needed = Permission.VIEW_CHANNEL | Permission.CONNECT
    if channel_permissions(guild, channel, bot_member(world, guild)) & needed != needed:
        raise DiscordError.missing_permissions()
    return channel


def _require(
    world: World, guild: Guild, permission: int, target: Member | None, target_id: int | None = None
) -> None:
    """The bot has `permission` and outranks `target` (the owner outranks everyone)."""
    me = bot_member(world, guild)
    if not guild_permissions(guild, me) & permission:
        raise DiscordError.missing_permissions()
    target_id = target.user_id if target is not None else target_id
    if target_id is None or me.user_id == guild.owner_id:
        return
    if target_id in {guild.owner_id, me.user_id}:
        raise DiscordError.missing_permissions()
    if target is not None and top_role_position(guild, target) >= top_role_position(guild, me):
        raise DiscordError.missing_permissions()


def _delete_message_seconds(body: dict[str, typing.Any]) -> int:
    """`delete_message_seconds` (0..604800), or the deprecated `delete_message_days`."""
    seconds = body.get("delete_message_seconds", 0)
    days = body.get("delete_message_days")
    if "delete_message_seconds" not in body and isinstance(days, int):
        seconds = days * 86_400
    if (
        not isinstance(seconds, int)
        or isinstance(seconds, bool)
        or not 0 <= seconds <= MAX_DELETE_MESSAGE_SECONDS
    ):
        raise form_error(
            "delete_message_seconds",
            "NUMBER_TYPE_MAX",
            f"int value should be between 0 and {MAX_DELETE_MESSAGE_SECONDS}.",
        )
    return seconds


def _nick(value: typing.Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise form_error("nick", "BASE_TYPE_STRING", "Must be a string.")
    if len(value) > MAX_NICK:
        raise form_error("nick", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_NICK} or fewer in length.")
    return value


def _timeout_end(world: World, value: typing.Any) -> datetime.datetime | None:
    if value is None:
        return None
    try:
        until = datetime.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        until = None
    if until is None:
        raise form_error(
            "communication_disabled_until", "DATE_TIME_TYPE_PARSE", f"Could not parse {value}."
        )
    until = until if until.tzinfo else until.replace(tzinfo=datetime.UTC)
    if until - world.clock() > MAX_TIMEOUT:
        raise form_error(
            "communication_disabled_until",
            "COMMUNICATION_DISABLED_UNTIL_TOO_LONG",
            "Timeouts can only be up to 28 days in the future.",
        )
    return until.astimezone(datetime.UTC)


def _roles(world: World, guild: Guild, member: Member, body: dict[str, typing.Any]) -> list[int]:
    """The member's new role list; every added or removed role must be below the bot's top."""
    raw = body["roles"]
    if not isinstance(raw, list) or not all(isinstance(r, (str, int)) for r in raw):
        raise form_error("roles", "BASE_TYPE_LIST", "Must be a list of snowflakes.")
    wanted = list(dict.fromkeys(int(r) for r in raw if int(r) != guild.id))
    if unknown := [r for r in wanted if r not in guild.roles]:
        raise form_error("roles", "BASE_TYPE_CHOICES", f"Unknown role {unknown[0]}.")
    changed = set(wanted) ^ set(member.role_ids)
    if changed:
        me = bot_member(world, guild)
        if not guild_permissions(guild, me) & Permission.MANAGE_ROLES:
            raise DiscordError.missing_permissions()
        mine = top_role_position(guild, me)
        for role_id in changed:
            role = guild.roles[role_id]
            if role.managed or (me.user_id != guild.owner_id and role.position >= mine):
                raise DiscordError.missing_permissions()
    return wanted


def _user(world: World, request: web.Request) -> User:
    return known(world.users.get(snowflake(request, "user_id")), ErrorCode.UNKNOWN_USER, "User")


def _ban_payload(world: World, user_id: int, reason: str | None) -> payloads.JSON:
    return {"user": payloads.user_payload(world.users[user_id]), "reason": reason}


def _audit_reason(request: web.Request) -> str | None:
    reason = request.headers.get("X-Audit-Log-Reason")
    return None if reason is None else urllib.parse.unquote(reason)
