"""Control route that plays a nuke: a member with the rights deletes channels and bans
members back to back, as a compromised or rogue admin does.

`POST /_sandbox/scenarios/nuke` `{"guild_id"?, "user_id", "channel_ids"? | "channels"? (3),
"bans"? (0)}`: the member deletes the channels named (or that many text channels, newest
first, never the guild's system channel), then bans that many members without roles. Discord
would refuse them without the rights, so this does too (403): MANAGE_CHANNELS to delete,
BAN_MEMBERS to ban. Each change is an audit-log entry by the member (GUILD_AUDIT_LOG_ENTRY_CREATE
to a bot with VIEW_AUDIT_LOG), exactly as if made in the Discord client. Answers what was
deleted and banned, and the audit entries' ids.
"""

from __future__ import annotations

import typing

from aiohttp import web

from townsquare.sandbox.control.common import ControlError, find_guild, read_json, snowflake
from townsquare.sandbox.rest.errors import json_response
from townsquare.sandbox.world.audit import AuditAction, record_audit
from townsquare.sandbox.world.channels import delete_channel
from townsquare.sandbox.world.members import ban
from townsquare.sandbox.world.models import ChannelType
from townsquare.sandbox.world.permissions import Permission, guild_permissions

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.models import Channel, Guild

__all__ = ["routes"]

_MOST: typing.Final = 100


def _count(body: dict[str, typing.Any], key: str, default: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MOST:
        raise ControlError(400, f"{key} must be an integer 0..{_MOST}")
    return value


def _channels(guild: Guild, body: dict[str, typing.Any]) -> list[Channel]:
    if "channel_ids" in body:
        raw = body["channel_ids"]
        if not isinstance(raw, list) or len(raw) > _MOST:
            raise ControlError(400, f"channel_ids must be a list of at most {_MOST} ids")
        ids = [snowflake({"id": value}, "id") for value in raw]
        if missing := [i for i in ids if i not in guild.channels]:
            raise ControlError(404, f"no channel {missing[0]} in guild {guild.id}")
        return [guild.channels[i] for i in dict.fromkeys(ids)]
    texts = [
        c
        for c in guild.channels.values()
        if c.type is ChannelType.GUILD_TEXT and c.id != guild.system_channel_id
    ]
    return sorted(texts, key=lambda c: c.id, reverse=True)[: _count(body, "channels", 3)]


def routes(prefix: str, world: World) -> list[web.RouteDef]:
    async def nuke(request: web.Request) -> web.Response:
        body = await read_json(request)
        guild = find_guild(world, body)
        actor = guild.members.get(snowflake(body, "user_id"))
        if actor is None:
            raise ControlError(404, f"user {body['user_id']} is not a member of guild {guild.id}")
        channels, bans = _channels(guild, body), _count(body, "bans", 0)
        rights = guild_permissions(guild, actor)
        if channels and not rights & Permission.MANAGE_CHANNELS:
            raise ControlError(403, "the member lacks Manage Channels")
        if bans and not rights & Permission.BAN_MEMBERS:
            raise ControlError(403, "the member lacks Ban Members")
        spared = {actor.user_id, guild.owner_id, world.application.bot_user_id}
        victims = [
            m.user_id
            for m in sorted(guild.members.values(), key=lambda m: m.user_id)
            if not m.role_ids and m.user_id not in spared and not world.users[m.user_id].bot
        ][:bans]
        entries: list[str] = []
        for channel in channels:
            delete_channel(world, guild, channel)
            made = record_audit(
                world,
                guild,
                AuditAction.CHANNEL_DELETE,
                user_id=actor.user_id,
                target_id=channel.id,
            )
            entries.append(str(made.id))
        for user_id in victims:
            ban(world, guild, world.users[user_id], delete_message_seconds=0, reason=None)
            made = record_audit(
                world, guild, AuditAction.MEMBER_BAN_ADD, user_id=actor.user_id, target_id=user_id
            )
            entries.append(str(made.id))
        return json_response(
            {
                "deleted": [str(c.id) for c in channels],
                "banned": [str(u) for u in victims],
                "entries": entries,
            }
        )

    return [web.post(prefix + "/scenarios/nuke", nuke)]
