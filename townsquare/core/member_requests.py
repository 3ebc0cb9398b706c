"""Members in bulk through the gateway: a worker asks the shard that owns a guild (flow: worker
-> Redis -> shard -> Discord's op 8 REQUEST_GUILD_MEMBERS -> GUILD_MEMBERS_CHUNK -> Redis ->
worker).

Why: a worker has only Discord's REST API, where each member is one `GET
/guilds/{id}/members/{user}` and a bot gets 50 requests a second. The gateway answers up to 100
`user_ids` in one request, with the members as Discord has them now (roles, `joined_at`) and
the ids that are not members in `not_found`. Only a shard has a gateway connection, so:

1. The worker reads the shard count from shard 0's health hash, finds the guild's shard
   (`(guild_id >> 22) % shard_count`) and checks that shard's `member_requests_ready` marker
   (kept by the shard while it is connected and may send op 8). No marker: no shard answers,
   the caller uses REST at once.
2. It pushes a :class:`MemberRequest` (at most :data:`MOST_IDS` ids, a nonce, an expiry) onto
   the shard's `member_requests` list and waits on its own `member_replies` list for up to
   `wait_seconds`. The shard sends op 8 with the nonce, gathers the chunks carrying it and
   pushes one :class:`MemberReply`.
3. No reply in time (the shard died, its gateway is rate limited, Redis lost the request):
   None, and the caller falls back to REST. A reply that comes later expires by TTL; a request
   a shard finds expired is dropped unanswered.

The shards' side is `townsquare/shards/member_requests.py`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import time
import typing
import uuid

from townsquare.core.keyspace import KeyspaceError

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = [
    "MOST_IDS",
    "READY_TTL_SECONDS",
    "REPLY_TTL_SECONDS",
    "REQUEST_TTL_SECONDS",
    "FetchedMember",
    "MemberReply",
    "MemberRequest",
    "owning_shard",
    "request_members",
]

MOST_IDS: typing.Final = 100
"""User ids one op 8 request may carry (Discord returns at most 100 members for `user_ids`)."""
REQUEST_TTL_SECONDS: typing.Final = 10
"""A shard's request list expires this long after the last push (no shard reads it)."""
REPLY_TTL_SECONDS: typing.Final = 30
"""A reply list expires this long after the shard pushed it (its worker gave up)."""
READY_TTL_SECONDS: typing.Final = 10
"""A shard's ready marker lives this long; the shard renews it every few seconds."""
_SHARD_COUNT_FIELD: typing.Final = "shard_count"


@dataclasses.dataclass(frozen=True, slots=True)
class MemberRequest:
    """What a worker asks a shard: the members `user_ids` of `guild_id`."""

    guild_id: int
    user_ids: tuple[int, ...]
    nonce: str
    """Discord's op 8 `nonce` (32 hex digits) and the reply list's name."""
    expires_at_ms: int
    """Unix ms after which the worker no longer waits: the shard drops the request."""

    def encode(self) -> str:
        return json.dumps(
            {
                "guild_id": self.guild_id,
                "user_ids": list(self.user_ids),
                "nonce": self.nonce,
                "expires_at_ms": self.expires_at_ms,
            }
        )

    @classmethod
    def decode(cls, raw: str | bytes) -> MemberRequest:
        """The request in `raw`; :class:`ValueError` when it is not one."""
        try:
            data = json.loads(raw)
            request = cls(
                int(data["guild_id"]),
                tuple(int(u) for u in data["user_ids"]),
                str(data["nonce"]),
                int(data["expires_at_ms"]),
            )
        except (TypeError, KeyError, ValueError) as error:
            raise ValueError(f"not a member request: {error}") from None
        if not 0 < len(request.user_ids) <= MOST_IDS or len(request.nonce.encode()) > 32:
            raise ValueError("a member request needs 1 to 100 user ids and a nonce of 32 bytes")
        return request


@dataclasses.dataclass(frozen=True, slots=True)
class FetchedMember:
    """A member as the gateway gave them: what the requirement checks read."""

    user_id: int
    role_ids: frozenset[int]
    joined_at: datetime.datetime | None


@dataclasses.dataclass(frozen=True, slots=True)
class MemberReply:
    """The shard's answer: the members found, and the ids Discord says are not members."""

    members: dict[int, FetchedMember]
    not_found: frozenset[int]

    def encode(self) -> str:
        return json.dumps(
            {
                "members": [
                    {
                        "user_id": m.user_id,
                        "role_ids": sorted(m.role_ids),
                        "joined_at": m.joined_at.isoformat() if m.joined_at else None,
                    }
                    for m in self.members.values()
                ],
                "not_found": sorted(self.not_found),
            }
        )

    @classmethod
    def decode(cls, raw: str | bytes) -> MemberReply:
        data = json.loads(raw)
        members = {
            int(m["user_id"]): FetchedMember(
                int(m["user_id"]),
                frozenset(int(r) for r in m["role_ids"]),
                datetime.datetime.fromisoformat(m["joined_at"]) if m["joined_at"] else None,
            )
            for m in data["members"]
        }
        return cls(members, frozenset(int(u) for u in data["not_found"]))


def owning_shard(guild_id: int, shard_count: int) -> int:
    """The shard that receives `guild_id`'s events (Discord's sharding formula)."""
    return (guild_id >> 22) % shard_count


async def request_members(
    redis: aioredis.Redis,
    keyspace: Keyspace,
    guild_id: int,
    user_ids: Sequence[int],
    *,
    wait_seconds: float,
) -> MemberReply | None:
    """The members `user_ids` (at most :data:`MOST_IDS`) of `guild_id` through the shard
    that owns the guild, or None when no shard answered within `wait_seconds` (no shard
    running or able to send op 8, or it did not answer): then the caller asks REST."""
    if not 0 < len(user_ids) <= MOST_IDS:
        raise ValueError(f"1 to {MOST_IDS} user ids per request, got {len(user_ids)}")
    try:
        health = keyspace.key("shard_health", 0)
    except KeyspaceError:
        return None
    count = await redis.hget(health, _SHARD_COUNT_FIELD)
    if not count or int(count) < 1:
        return None
    shard = owning_shard(guild_id, int(count))
    if not await redis.exists(keyspace.key("member_requests_ready", shard)):
        return None
    nonce = uuid.uuid4().hex
    request = MemberRequest(
        guild_id, tuple(user_ids), nonce, time.time_ns() // 1_000_000 + int(wait_seconds * 1000)
    )
    queue = keyspace.key("member_requests", shard)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.rpush(queue, request.encode())
        pipe.expire(queue, REQUEST_TTL_SECONDS)
        await pipe.execute()
    popped = await redis.blpop([keyspace.key("member_replies", nonce)], timeout=wait_seconds)
    if popped is None:
        return None
    return MemberReply.decode(popped[1])
