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

__all__ = [
    "ALL_MEMBERS_INTERVAL",
    "asks_for_all_members",
    "guild_create",
    "member_chunks",
    "rate_limited",
    "ready",
]

_CHUNK_SIZE: typing.Final[int] = 1000
_MOST_BY_ID: typing.Final[int] = 100
"""Members one `user_ids` request returns at most."""
_MOST_BY_QUERY: typing.Final[int] = 100
"""Members one `query` request returns at most (unless it asks for the whole list)."""
_NONCE_BYTES: typing.Final[int] = 32
ALL_MEMBERS_INTERVAL: typing.Final[float] = 30.0
"""Seconds between two whole-member-list requests for one guild in one session (Discord's
limit since 2025-08: more get a RATE_LIMITED dispatch)."""


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


def member_chunks(world: World, session: GatewaySession, request: JSON) -> list[JSON]:
    """GUILD_MEMBERS_CHUNK payloads answering REQUEST_GUILD_MEMBERS (op 8), with Discord's
    documented limits (gateway-events.mdx, "Request Guild Members"):

    - `user_ids` (one id or a list): at most 100 members come back (the first 100 ids); ids
      of users who are not members are listed in the first chunk's `not_found`. No intent
      needed.
    - `query` (a username prefix, case-insensitive) with `limit`: at most 100 members. The
      whole list (`query: ""`, `limit: 0`) needs `GUILD_MEMBERS`; without it nothing is sent
      (what Discord does: no chunk, no error). Its rate limit is :func:`all_members_limited`.
    - `presences` needs `GUILD_PRESENCES`, otherwise it is false; nobody is online in the
      sandbox, so a chunk asked with presences carries an empty `presences` list.
    - `nonce` is echoed in every chunk if it is at most 32 bytes, otherwise ignored.
    - A guild not on the session's shard, or unknown, gets no answer.
    Chunks hold up to 1,000 members each; `chunk_index`/`chunk_count` number them.
    """
    guild = world.guilds.get(_snowflake(request.get("guild_id")))
    if guild is None or not session.owns_guild(guild.id):
        return []
    not_found: list[str] = []
    if (user_ids := request.get("user_ids")) is not None:
        ids = [_snowflake(u) for u in (user_ids if isinstance(user_ids, list) else [user_ids])]
        ids = ids[:_MOST_BY_ID]
        members = [guild.members[i] for i in ids if i in guild.members]
        not_found = [str(i) for i in ids if i not in guild.members]
    else:
        query = str(request.get("query", "")).lower()
        limit = int(request.get("limit", 0) or 0)
        if not query and not limit and not session.intents & Intent.GUILD_MEMBERS:
            return []
        members = [
            m
            for m in guild.members.values()
            if world.users[m.user_id].username.lower().startswith(query)
            or (m.nick or "").lower().startswith(query)
        ]
        if query or limit:
            members = members[: min(limit or _MOST_BY_QUERY, _MOST_BY_QUERY)]
    presences = bool(request.get("presences")) and bool(session.intents & Intent.GUILD_PRESENCES)
    nonce = request.get("nonce")
    if not isinstance(nonce, str) or len(nonce.encode()) > _NONCE_BYTES:
        nonce = None
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
        if presences:
            chunk["presences"] = []
        if nonce is not None:
            chunk["nonce"] = nonce
        chunks.append(chunk)
    return chunks


def asks_for_all_members(request: JSON) -> bool:
    """Whether an op 8 request asks for the whole member list (`query: ""`, `limit: 0`, no
    `user_ids`): the only kind Discord rate limits (1 per guild per session every 30 s)."""
    return (
        request.get("user_ids") is None
        and not request.get("query")
        and not int(request.get("limit", 0) or 0)
    )


def rate_limited(request: JSON, retry_after: float) -> JSON:
    """The RATE_LIMITED dispatch answering an op 8 request over its rate limit."""
    meta: JSON = {"guild_id": str(request.get("guild_id"))}
    nonce = request.get("nonce")
    if isinstance(nonce, str) and len(nonce.encode()) <= _NONCE_BYTES:
        meta["nonce"] = nonce
    return {"opcode": 8, "retry_after": round(retry_after, 3), "meta": meta}


def _snowflake(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0
