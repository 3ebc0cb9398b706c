"""The audit log and what anti-nuke watches: reading the log, deleting a channel, invites.

- `GET /guilds/{guild_id}/audit-logs`: VIEW_AUDIT_LOG (else 403 50013); newest first,
  filtered by `user_id`, `target_id`, `action_type`, `before`, `after` (then oldest first, as
  Discord pages forward), `limit` 1-100 (50); with the users the entries name.
- `DELETE /channels/{channel_id}`: MANAGE_CHANNELS in the channel (403 50013); the deleted
  channel back, CHANNEL_DELETE, an audit entry (CHANNEL_DELETE).
- `GET /invites/{code}`: the invite's guild and channel (10006 Unknown Invite otherwise);
  needs no permission, as on Discord.
"""

from __future__ import annotations

import typing

from aiohttp import web

from townsquare.sandbox.rest.common import (
    audit,
    find_channel,
    find_guild,
    int_query,
    require_channel_permissions,
)
from townsquare.sandbox.rest.errors import DiscordError, ErrorCode, form_error, json_response
from townsquare.sandbox.world import payloads
from townsquare.sandbox.world.audit import AuditAction, audit_entry_payload
from townsquare.sandbox.world.channels import delete_channel
from townsquare.sandbox.world.permissions import Permission, guild_permissions

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.models import AuditEntry, Channel, Guild

__all__ = ["routes"]

_MAX_ID: typing.Final = 2**64 - 1


def routes(world: World) -> list[web.RouteDef]:
    async def audit_logs(request: web.Request) -> web.Response:
        guild = find_guild(world, request)
        me = guild.members.get(world.application.bot_user_id)
        if me is None or not guild_permissions(guild, me) & Permission.VIEW_AUDIT_LOG:
            raise DiscordError.missing_permissions()
        entries = _filtered(guild, request)
        users = {e.user_id for e in entries} | {e.target_id for e in entries}
        return json_response(
            {
                "audit_log_entries": [audit_entry_payload(e) for e in entries],
                "users": [payloads.user_payload(world.users[u]) for u in users if u in world.users],
                "integrations": [],
                "webhooks": [],
                "guild_scheduled_events": [],
                "threads": [],
                "application_commands": [],
                "auto_moderation_rules": [],
            }
        )

    async def delete(request: web.Request) -> web.Response:
        channel = find_channel(world, request)
        guild = world.guild_of(channel)
        if guild is None:
            raise DiscordError.missing_access()  # the bot's DMs are not its to delete
        require_channel_permissions(world, channel, Permission.MANAGE_CHANNELS)
        payload = payloads.channel_payload(channel)
        delete_channel(world, guild, channel)
        audit(world, guild, request, AuditAction.CHANNEL_DELETE, channel.id)
        return json_response(payload)

    async def invite(request: web.Request) -> web.Response:
        code = request.match_info["code"]
        for guild in world.guilds.values():
            channel = guild.channels.get(guild.invites.get(code, 0))
            if channel is not None:
                return json_response(_invite_payload(code, guild, channel))
        raise DiscordError.unknown(ErrorCode.UNKNOWN_INVITE, "Invite")

    return [
        web.get("/api/v10/guilds/{guild_id}/audit-logs", audit_logs),
        web.delete("/api/v10/channels/{channel_id}", delete),
        web.get("/api/v10/invites/{code}", invite),
    ]


def _filtered(guild: Guild, request: web.Request) -> list[AuditEntry]:
    limit = int_query(request, "limit", 50, 1, 100)
    before = int_query(request, "before", _MAX_ID, 0, _MAX_ID)
    after = int_query(request, "after", 0, 0, _MAX_ID)
    wanted = {
        name: int_query(request, name, 0, 0, _MAX_ID)
        for name in ("user_id", "target_id", "action_type")
        if name in request.query
    }
    if "action_type" in wanted and not 1 <= wanted["action_type"] <= 255:
        raise form_error("action_type", "BASE_TYPE_CHOICES", "Value is not a valid enum value.")
    found = [
        e
        for e in guild.audit_log
        if after < e.id < before
        and wanted.get("user_id", e.user_id) == e.user_id
        and wanted.get("target_id", e.target_id) == e.target_id
        and wanted.get("action_type", e.action_type) == e.action_type
    ]
    if "after" in request.query and "before" not in request.query:
        return found[:limit]
    return list(reversed(found))[:limit]


def _invite_payload(code: str, guild: Guild, channel: Channel) -> payloads.JSON:
    """Discord's GuildInviteResponse (a permanent invite, no inviter)."""
    return {
        "type": 0,
        "code": code,
        "expires_at": None,
        "guild_id": str(guild.id),
        "guild": {
            "id": str(guild.id),
            "name": guild.name,
            "splash": None,
            "banner": None,
            "description": None,
            "icon": None,
            "features": [],
            "verification_level": guild.verification_level,
            "vanity_url_code": None,
            "nsfw_level": 0,
            "nsfw": False,
            "premium_subscription_count": 0,
        },
        "channel": {"id": str(channel.id), "type": int(channel.type), "name": channel.name},
    }
