"""Payloads of the handshake: READY, GUILD_CREATE and member chunks."""

from __future__ import annotations

import typing

from townsquare.sandbox.intents import Intent
from townsquare.sandbox.world import payloads

if typing.TYPE_CHECKING:
    from townsquare.sandbox.gateway.session import GatewaySession
    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.models import Guild
    from townsquare.sandbox.world.payloads import JSON

__all__ = ["guild_create", "member_chunks", "ready"]

_CHUNK_SIZE: typing.Final[int] = 1000


def ready(world: World, session: GatewaySession, resume_gateway_url: str) -> JSON:
    guilds = [g for g in world.guilds.values() if session.owns_guild(g.id)]
    return {
        "v": 10,
        "user": payloads.own_user_payload(world.bot_user),
        "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
        "session_id": session.session_id,
        "resume_gateway_url": resume_gateway_url,
        "shard": [session.shard_id, session.shard_count],
        "application": {"id": str(world.application.id), "flags": world.application.flags},
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "guild_join_requests": [],
        "user_settings": {},
        "session_type": "normal",
        "auth": {},
        "current_location": ["sandbox"],
        "geo_ordered_rtc_regions": [],
    }


def guild_create(world: World, guild: Guild, intents: int, large_threshold: int) -> JSON:
    """GUILD_CREATE as Discord sends it after READY (`unavailable: false`).

    Like Discord, all members are included only with GUILD_PRESENCES in a small guild;
    otherwise only the bot and members in voice, and the client chunks the rest.
    """
    large = len(guild.members) > large_threshold
    bot_id = world.application.bot_user_id
    if intents & Intent.GUILD_PRESENCES and not large:
        members = list(guild.members.values())
    else:
        wanted = {bot_id, *guild.voice_states}
        members = [m for m in guild.members.values() if m.user_id in wanted]
    bot_member = guild.members[bot_id]
    return payloads.guild_payload(guild) | {
        "joined_at": payloads.iso(bot_member.joined_at),
        "large": large,
        "unavailable": False,
        "member_count": len(guild.members),
        "members": [world.member_payload(m) for m in members],
        "channels": [payloads.channel_payload(c) for c in guild.channels.values()],
        "threads": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "voice_states": [
            payloads.voice_state_payload(v) for v in guild.voice_states.values() if v.channel_id
        ],
        "lazy": True,
    }


def member_chunks(world: World, request: JSON) -> list[JSON]:
    """GUILD_MEMBERS_CHUNK payloads answering REQUEST_GUILD_MEMBERS (op 8)."""
    guild = world.guilds.get(int(request.get("guild_id", 0)))
    if guild is None:
        return []
    not_found: list[str] = []
    if user_ids := request.get("user_ids"):
        ids = [int(u) for u in (user_ids if isinstance(user_ids, list) else [user_ids])]
        members = [guild.members[i] for i in ids if i in guild.members]
        not_found = [str(i) for i in ids if i not in guild.members]
    else:
        query = str(request.get("query", "")).lower()
        members = [
            m for m in guild.members.values() if world.users[m.user_id].username.startswith(query)
        ]
        if limit := int(request.get("limit", 0)):
            members = members[:limit]
    batches = [members[i : i + _CHUNK_SIZE] for i in range(0, len(members), _CHUNK_SIZE)] or [[]]
    chunks: list[JSON] = []
    for index, batch in enumerate(batches):
        chunk: JSON = {
            "guild_id": str(guild.id),
            "members": [world.member_payload(m) for m in batch],
            "chunk_index": index,
            "chunk_count": len(batches),
        }
        if not_found and index == 0:
            chunk["not_found"] = not_found
        if (nonce := request.get("nonce")) is not None:
            chunk["nonce"] = nonce
        chunks.append(chunk)
    return chunks
