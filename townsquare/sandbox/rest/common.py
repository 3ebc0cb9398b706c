"""Helpers shared by the route modules: path ids, bodies and lookups that fail as Discord does."""

from __future__ import annotations

import dataclasses
import json
import typing
import urllib.parse

from aiohttp import web

from townsquare.sandbox.rest.errors import DiscordError, ErrorCode, form_error
from townsquare.sandbox.world.audit import record_audit
from townsquare.sandbox.world.permissions import Permission, channel_permissions

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.audit import AuditAction
    from townsquare.sandbox.world.models import Channel, Guild, Member, Message, Role

__all__ = [
    "PRINCIPAL",
    "Principal",
    "audit",
    "bot_member",
    "find_channel",
    "find_guild",
    "find_member",
    "find_message",
    "find_role",
    "int_query",
    "json_body",
    "known",
    "require_channel_permissions",
    "snowflake",
]


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request: the bot (`Bot` token) or a user through a `Bearer` token."""

    user_id: int
    is_bot: bool
    scopes: frozenset[str] = frozenset()
    access_token: str | None = None
    """The bearer token, for routes that describe the authorization itself."""


PRINCIPAL: typing.Final = web.RequestKey("sandbox_principal", Principal)
"""Set by the REST middleware on every authenticated request."""


def snowflake(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not raw.isdigit():
        raise form_error(name, "NUMBER_TYPE_COERCE", f'Value "{raw}" is not snowflake.')
    return int(raw)


async def json_body(request: web.Request) -> dict[str, typing.Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise DiscordError(
            400, ErrorCode.INVALID_JSON, "The request body contains invalid JSON."
        ) from None
    if not isinstance(body, dict):
        raise DiscordError(400, ErrorCode.INVALID_JSON, "The request body contains invalid JSON.")
    return body


def known[T](found: T | None, code: int, what: str) -> T:
    """`found`, or Discord's 404 "Unknown <what>" with `code` when it is None."""
    if found is None:
        raise DiscordError.unknown(code, what)
    return found


def find_guild(world: World, request: web.Request) -> Guild:
    return known(world.guilds.get(snowflake(request, "guild_id")), ErrorCode.UNKNOWN_GUILD, "Guild")


def find_channel(world: World, request: web.Request) -> Channel:
    channel = world.channel(snowflake(request, "channel_id"))
    return known(channel, ErrorCode.UNKNOWN_CHANNEL, "Channel")


def find_member(guild: Guild, request: web.Request) -> Member:
    member = guild.members.get(snowflake(request, "user_id"))
    return known(member, ErrorCode.UNKNOWN_MEMBER, "Member")


def find_role(guild: Guild, request: web.Request) -> Role:
    return known(guild.roles.get(snowflake(request, "role_id")), ErrorCode.UNKNOWN_ROLE, "Role")


def find_message(world: World, channel: Channel, request: web.Request) -> Message:
    message = world.messages.get(snowflake(request, "message_id"))
    if message is None or message.channel_id != channel.id or message.ephemeral:
        raise DiscordError.unknown(ErrorCode.UNKNOWN_MESSAGE, "Message")
    return message


def bot_member(world: World, guild: Guild) -> Member:
    member = guild.members.get(world.application.bot_user_id)
    if member is None:
        raise DiscordError.missing_access()
    return member


def require_channel_permissions(world: World, channel: Channel, needed: int) -> None:
    """403 Missing Access without VIEW_CHANNEL, Missing Permissions without the rest."""
    guild = world.guild_of(channel)
    if guild is None:
        if world.application.bot_user_id not in channel.recipient_ids:
            raise DiscordError.missing_access()
        if needed & Permission.SEND_MESSAGES and not _may_dm(world, channel):
            raise DiscordError(
                403, ErrorCode.CANNOT_MESSAGE_USER, "Cannot send messages to this user"
            )
        return
    granted = channel_permissions(guild, channel, bot_member(world, guild))
    if not granted & Permission.VIEW_CHANNEL:
        raise DiscordError.missing_access()
    if granted & needed != needed:
        raise DiscordError.missing_permissions()


def _may_dm(world: World, channel: Channel) -> bool:
    """Discord delivers the bot's DM only to a user who shares a server with it and has not
    closed their DMs."""
    bot_id = world.application.bot_user_id
    for user_id in channel.recipient_ids:
        user = world.users.get(user_id)
        if user_id == bot_id or user is None:
            continue
        if user.dms_closed:
            return False
        shared = any(
            user_id in guild.members and bot_id in guild.members for guild in world.guilds.values()
        )
        if not shared:
            return False
    return True


def int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]; 400 50035 otherwise."""
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise form_error(name, "NUMBER_TYPE_COERCE", f'Value "{raw}" is not valid.')
    return int(raw)


def audit(
    world: World,
    guild: Guild,
    request: web.Request,
    action: AuditAction,
    target_id: int | None,
    *,
    options: dict[str, str] | None = None,
) -> None:
    """The bot's change in the guild's audit log, with the request's `X-Audit-Log-Reason`."""
    raw = request.headers.get("X-Audit-Log-Reason")
    reason = None if raw is None else urllib.parse.unquote(raw)[:512]
    bot = world.application.bot_user_id
    record_audit(
        world, guild, action, user_id=bot, target_id=target_id, reason=reason, options=options
    )
