"""The shards' half of members in bulk (`core/member_requests.py` has the workers' half and
the why): requests popped from Redis go out as gateway op 8 with `user_ids` and a nonce; the
GUILD_MEMBERS_CHUNK events carrying that nonce are gathered into one reply.

Only with the `GUILD_MEMBERS` intent. Discord documents the intent as needed for the whole
member list only, but hikari's `request_guild_members` refuses `user_ids` without it
(`MissingIntentError`), and so do other libraries (discord.py): the shards answer only when
they run with the intent (`discord.server_members_intent`, or a feature that needs joins), and
otherwise never mark themselves ready, so workers use REST at once.

Discord's gateway allows 120 payloads per connection a minute (heartbeats included); hikari's
shard paces its sends under that, so a burst of requests waits in hikari rather than closing
the connection, and a worker whose reply is late falls back to REST. At most
:data:`MOST_PENDING` requests are in flight per process; more wait in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import typing

import hikari
import structlog

from townsquare.core.member_requests import (
    READY_TTL_SECONDS,
    REPLY_TTL_SECONDS,
    FetchedMember,
    MemberReply,
    MemberRequest,
    owning_shard,
)

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

__all__ = ["MOST_PENDING", "MemberRequestServer"]

_log = structlog.get_logger(__name__)

MOST_PENDING: typing.Final = 20
"""Requests sent to Discord and not yet answered, per process."""
READY_EVERY_SECONDS: typing.Final = 3.0
"""How often the ready markers are renewed (their TTL is READY_TTL_SECONDS)."""
_POP_TIMEOUT: typing.Final = 1.0


@dataclasses.dataclass(slots=True)
class _Pending:
    request: MemberRequest
    members: dict[int, FetchedMember] = dataclasses.field(default_factory=dict)
    not_found: set[int] = dataclasses.field(default_factory=set)
    chunks: set[int] = dataclasses.field(default_factory=set)


class MemberRequestServer:
    """Answers `member_requests` for the shards of one process (see the module docstring).

    `run()` loops until cancelled; :meth:`on_chunk` is subscribed to hikari's
    `MemberChunkEvent` by the cluster.
    """

    def __init__(
        self,
        bot: hikari.GatewayBotAware,
        redis: aioredis.Redis,
        keyspace: Keyspace,
        shard_ids: Sequence[int],
        shard_count: int,
    ) -> None:
        self._bot = bot
        self._redis = redis
        self._keyspace = keyspace
        self._shard_ids = tuple(shard_ids)
        self._shard_count = shard_count
        self._pending: dict[str, _Pending] = {}
        self._sending: set[asyncio.Task[None]] = set()

    @staticmethod
    def enabled(bot: hikari.GatewayBotAware) -> bool:
        """Whether the bot's intents let it ask for members by id (see the module docstring)."""
        return bool(bot.intents & hikari.Intents.GUILD_MEMBERS)

    async def run(self) -> None:
        queues = [self._keyspace.key("member_requests", s) for s in self._shard_ids]
        marked = 0.0
        while True:
            try:
                if time.monotonic() - marked >= READY_EVERY_SECONDS:
                    await self._mark_ready()
                    marked = time.monotonic()
                self._forget_expired()
                if len(self._pending) >= MOST_PENDING:
                    await asyncio.sleep(0.05)
                    continue
                popped = await self._redis.blpop(queues, timeout=_POP_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # Redis away: the markers expire, workers use REST
                _log.warning("member_requests_unavailable", error=str(error))
                await asyncio.sleep(1.0)
                continue
            if popped is not None:
                self._accept(popped[1])

    async def close(self) -> None:
        """Withdraw the ready markers and stop the sends in flight."""
        for task in list(self._sending):
            task.cancel()
        with contextlib.suppress(Exception):
            await self._redis.delete(
                *(self._keyspace.key("member_requests_ready", s) for s in self._shard_ids)
            )

    async def _mark_ready(self) -> None:
        shards = self._bot.shards
        ready = [s for s in self._shard_ids if s in shards and shards[s].is_connected]
        gone = [s for s in self._shard_ids if s not in ready]
        async with self._redis.pipeline(transaction=False) as pipe:
            for shard in ready:
                key = self._keyspace.key("member_requests_ready", shard)
                pipe.set(key, self._shard_count, ex=READY_TTL_SECONDS)
            for shard in gone:
                pipe.delete(self._keyspace.key("member_requests_ready", shard))
            await pipe.execute()

    def _accept(self, raw: bytes | str) -> None:
        try:
            request = MemberRequest.decode(raw)
        except ValueError as error:
            _log.warning("member_request_refused", error=str(error))
            return
        if request.expires_at_ms <= time.time_ns() // 1_000_000:
            return  # its worker has already fallen back to REST
        shard_id = owning_shard(request.guild_id, self._shard_count)
        shard = self._bot.shards.get(shard_id)
        if shard is None or not shard.is_connected:
            return  # unanswered: the worker falls back when its wait ends
        self._pending[request.nonce] = _Pending(request)
        task = asyncio.create_task(self._send(shard, request))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, shard: hikari.api.GatewayShard, request: MemberRequest) -> None:
        try:
            await shard.request_guild_members(
                request.guild_id, users=request.user_ids, nonce=request.nonce
            )
        except Exception as error:  # disconnected meanwhile: the worker falls back
            self._pending.pop(request.nonce, None)
            _log.info("member_request_not_sent", guild_id=request.guild_id, error=str(error))

    async def on_chunk(self, event: hikari.MemberChunkEvent) -> None:
        """Gather a chunk of one of our requests; reply once every chunk has arrived."""
        pending = self._pending.get(event.nonce) if event.nonce else None
        if pending is None or event.guild_id != pending.request.guild_id:
            return
        for member in event.members.values():
            pending.members[int(member.id)] = FetchedMember(
                int(member.id), frozenset(map(int, member.role_ids)), member.joined_at
            )
        pending.not_found.update(map(int, event.not_found))
        pending.chunks.add(event.chunk_index)
        if len(pending.chunks) < event.chunk_count:
            return
        del self._pending[pending.request.nonce]
        reply = MemberReply(pending.members, frozenset(pending.not_found))
        key = self._keyspace.key("member_replies", pending.request.nonce)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.rpush(key, reply.encode())
                pipe.expire(key, REPLY_TTL_SECONDS)
                await pipe.execute()
        except Exception as error:  # the worker falls back when its wait ends
            _log.warning("member_reply_not_stored", error=str(error))

    def _forget_expired(self) -> None:
        now = time.time_ns() // 1_000_000
        for nonce, pending in list(self._pending.items()):
            if pending.request.expires_at_ms <= now:
                del self._pending[nonce]
