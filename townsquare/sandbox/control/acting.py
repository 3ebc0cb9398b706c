"""Who makes a control route's change, and the moderating changes a person makes in the Discord
client: kicks, bans, unbans and channel deletions.

A control route whose change Discord keeps in the audit log takes `actor_id` (a member of the
guild; the guild's owner when absent): the change is refused as Discord would refuse it of that
member (403 without the permission, or when the target's top role is not below theirs), and is
an audit-log entry by them (`world/audit.py`: GUILD_AUDIT_LOG_ENTRY_CREATE to a bot with
VIEW_AUDIT_LOG), as if they had made it in their client.

`POST /_sandbox/members/{user_id}/kick` and `POST /_sandbox/bans/{user_id}` (`{"guild_id"?,
"actor_id"?, "reason"?}`), `DELETE /_sandbox/bans/{user_id}` and
`DELETE /_sandbox/channels/{channel_id}` (`{"guild_id"?, "actor_id"?}`) answer the audit
entry's id as `{"entry": id}`.
"""

from __future__ import annotations

import typing

from aiohttp import web

from townsquare.sandbox.control.common import ControlError, find_guild, read_json, snowflake
from townsquare.sandbox.rest.errors import json_response
from townsquare.sandbox.world.audit import AuditAction, record_audit
from townsquare.sandbox.world.channels import delete_channel
from townsquare.sandbox.world.members import ban, leave_guild, unban
from townsquare.sandbox.world.permissions import Permission, guild_permissions, top_role_position

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.models import Guild, Member

__all__ = ["acting_member", "routes"]

_REASON_MAX: typing.Final = 512


def acting_member(
    world: World, guild: Guild, body: dict[str, typing.Any], permission: int
) -> Member:
    """The body's `actor_id` (the owner when absent), who must hold `permission` (403)."""
    actor_id = snowflake(body, "actor_id") if "actor_id" in body else guild.owner_id
    actor = guild.members.get(actor_id)
    if actor is None:
        raise ControlError(404, f"user {actor_id} is not a member of guild {guild.id}")
    if actor_id == world.application.bot_user_id:
        raise ControlError(400, "the bot acts through REST, not the control API")
    if not guild_permissions(guild, actor) & permission:
        raise ControlError(403, f"the member lacks {Permission(permission).name}")
    return actor


def _outranks(guild: Guild, actor: Member, target_id: int) -> None:
    """Discord's rule for kicks and bans by a person: never the owner or oneself, and only
    members whose top role is below the actor's (the owner outranks everyone)."""
    if target_id in {guild.owner_id, actor.user_id}:
        raise ControlError(403, "nobody can act on the owner or on themselves")
    target = guild.members.get(target_id)
    if (
        target is not None
        and actor.user_id != guild.owner_id
        and top_role_position(guild, target) >= top_role_position(guild, actor)
    ):
        raise ControlError(403, "the target's top role is not below the member's")


def _reason(body: dict[str, typing.Any]) -> str | None:
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > _REASON_MAX):
        raise ControlError(400, f"reason must be a string of at most {_REASON_MAX} characters")
    return reason


def _id(request: web.Request, key: str) -> int:
    raw = request.match_info[key]
    if not raw.isdigit():
        raise ControlError(400, f"{key} must be a snowflake")
    return int(raw)


type _Act = Callable[[Guild, Member, int, dict[str, typing.Any]], str | None]
"""Refuses the change as Discord would, or makes it on the target; returns the reason the
audit entry carries."""


def _acting(
    world: World, permission: Permission, action: AuditAction, key: str, act: _Act
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A control route of a change a member makes: the body's guild and actor (who must hold
    `permission`), the target from the path's `key`, `act`, then the audit-log entry."""

    async def handle(request: web.Request) -> web.Response:
        body = await read_json(request)
        guild = find_guild(world, body)
        actor = acting_member(world, guild, body, permission)
        target_id = _id(request, key)
        reason = act(guild, actor, target_id, body)
        made = record_audit(
            world, guild, action, user_id=actor.user_id, target_id=target_id, reason=reason
        )
        return json_response({"entry": str(made.id)})

    return handle


def routes(prefix: str, world: World) -> list[web.RouteDef]:
    def kick(guild: Guild, actor: Member, user_id: int, body: dict[str, typing.Any]) -> str | None:
        target = guild.members.get(user_id)
        if target is None:
            raise ControlError(404, f"user {user_id} is not a member of guild {guild.id}")
        _outranks(guild, actor, user_id)
        reason = _reason(body)
        leave_guild(world, guild, target)
        return reason

    def add_ban(
        guild: Guild, actor: Member, user_id: int, body: dict[str, typing.Any]
    ) -> str | None:
        user = world.users.get(user_id)
        if user is None:
            raise ControlError(404, f"no user {user_id}")
        _outranks(guild, actor, user_id)
        reason = _reason(body)
        ban(world, guild, user, delete_message_seconds=0, reason=reason)
        return reason

    def remove_ban(guild: Guild, _actor: Member, user_id: int, _body: object) -> None:
        if user_id not in guild.bans:
            raise ControlError(404, f"user {user_id} is not banned from guild {guild.id}")
        unban(world, guild, world.users[user_id])

    def remove_channel(guild: Guild, _actor: Member, channel_id: int, _body: object) -> None:
        channel = guild.channels.get(channel_id)
        if channel is None:
            raise ControlError(404, f"no channel {channel_id} in guild {guild.id}")
        delete_channel(world, guild, channel)

    members, channels = Permission.KICK_MEMBERS, Permission.MANAGE_CHANNELS
    bans = Permission.BAN_MEMBERS
    return [
        web.post(
            prefix + "/members/{user_id}/kick",
            _acting(world, members, AuditAction.MEMBER_KICK, "user_id", kick),
        ),
        web.post(
            prefix + "/bans/{user_id}",
            _acting(world, bans, AuditAction.MEMBER_BAN_ADD, "user_id", add_ban),
        ),
        web.delete(
            prefix + "/bans/{user_id}",
            _acting(world, bans, AuditAction.MEMBER_BAN_REMOVE, "user_id", remove_ban),
        ),
        web.delete(
            prefix + "/channels/{channel_id}",
            _acting(world, channels, AuditAction.CHANNEL_DELETE, "channel_id", remove_channel),
        ),
    ]
