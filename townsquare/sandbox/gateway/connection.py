"""One gateway websocket: the protocol from HELLO to close.

Frames leave through a queue drained by a single writer task, so dispatches, replays and
close frames go out in exactly the order they were produced.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import time
import typing

import aiohttp
import orjson

from townsquare.sandbox.gateway import handshake
from townsquare.sandbox.gateway.frames import FrameWriter
from townsquare.sandbox.gateway.voice import move_bot_in_voice
from townsquare.sandbox.intents import ALL_INTENTS, PRIVILEGED_INTENTS

if typing.TYPE_CHECKING:
    from aiohttp import web

    from townsquare.sandbox.gateway.compression import FrameEncoder
    from townsquare.sandbox.gateway.hub import GatewayHub
    from townsquare.sandbox.gateway.session import GatewaySession
    from townsquare.sandbox.world.payloads import JSON

__all__ = ["CloseCode", "GatewayConnection"]

_LOGGER = logging.getLogger(__name__)
_BATCH: typing.Final[int] = 256


def _encode_json(payload: object) -> bytes:
    """Compact JSON in UTF-8 (orjson: the stdlib's encoder was a quarter of the sandbox's CPU
    per MESSAGE_CREATE in the pipeline benchmarks)."""
    return orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)


class CloseCode:
    """Discord's gateway close codes that the sandbox sends."""

    UNKNOWN_OPCODE = 4001
    DECODE_ERROR = 4002
    NOT_AUTHENTICATED = 4003
    AUTHENTICATION_FAILED = 4004
    ALREADY_AUTHENTICATED = 4005
    RATE_LIMITED = 4008
    SESSION_TIMED_OUT = 4009
    INVALID_SHARD = 4010
    INVALID_INTENTS = 4013
    DISALLOWED_INTENTS = 4014


@dataclasses.dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str


class GatewayConnection:
    """Runs the gateway protocol over one accepted websocket."""

    def __init__(
        self,
        hub: GatewayHub,
        request: web.Request,
        ws: web.WebSocketResponse,
        encoder: FrameEncoder,
        gateway_url: str,
    ) -> None:
        self.hub = hub
        self.session: GatewaySession | None = None
        self.withhold_acks = False
        """A fault: heartbeats go unanswered, so the client sees a zombie connection."""
        self._request = request
        self._ws = ws
        self._encoder = encoder
        self._gateway_url = gateway_url
        self._queue: asyncio.Queue[JSON | _Close] = asyncio.Queue()
        self._closing = False
        self._close_queued = False
        self._received: collections.deque[float] = collections.deque()
        self._last_heartbeat = asyncio.get_running_loop().time()

    def send(self, payload: JSON) -> None:
        if not self._closing:
            self._queue.put_nowait(payload)

    def close(self, code: int, reason: str) -> None:
        """Send a close frame after everything already queued."""
        if not self._closing:
            self._closing = self._close_queued = True
            self._queue.put_nowait(_Close(code, reason))

    def drop(self) -> None:
        """Cut the TCP connection without a close frame, as a network failure would."""
        self._closing = True
        if (transport := self._request.transport) is not None:
            transport.abort()

    async def run(self) -> None:
        writer = asyncio.create_task(self._write(), name="sandbox gateway writer")
        watchdog = asyncio.create_task(self._watch_heartbeats(), name="sandbox gateway watchdog")
        self.hub.connections.add(self)
        interval = self.hub.settings.heartbeat_interval_ms
        self.send({"op": 10, "s": None, "t": None, "d": {"heartbeat_interval": interval}})
        try:
            async for message in self._ws:
                if message.type in {aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY}:
                    self._receive(message.data)
        finally:
            watchdog.cancel()
            self.hub.connections.discard(self)
            self._detach()
            if self._close_queued and not writer.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(writer, timeout=5)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _watch_heartbeats(self) -> None:
        """Close with 4009 (and end the session) when a heartbeat is overdue, as Discord does
        with a client that stopped heartbeating."""
        settings = self.hub.settings
        allowance = settings.heartbeat_interval_ms / 1000 * settings.heartbeat_timeout_factor
        loop = asyncio.get_running_loop()
        while not self._closing:
            await asyncio.sleep(max(self._last_heartbeat + allowance - loop.time(), 0))
            if loop.time() - self._last_heartbeat >= allowance and not self._closing:
                if self.session is not None:
                    self.hub.close_session(self.session)
                self.close(CloseCode.SESSION_TIMED_OUT, "Session timed out.")

    def _detach(self) -> None:
        session = self.session
        if session is None or session.outbox is not self:
            return
        session.outbox = None
        session.detached_at = asyncio.get_running_loop().time()
        # Discord ends a session when the client closes with 1000 or 1001; any other close,
        # or a dropped connection, leaves it resumable for the hub's resume window.
        if self._ws.close_code in {1000, 1001} or self.hub.settings.resume_window <= 0:
            self.hub.close_session(session)

    async def _write(self) -> None:
        """Drain the queue in batches (up to `_BATCH` frames per transport write)."""
        frames = FrameWriter(self._request, self._ws, binary=self._encoder.binary)
        while True:
            batch = [await self._queue.get()]
            while len(batch) < _BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            closing = batch[-1] if isinstance(batch[-1], _Close) else None
            encoded = [
                self._encoder.encode(_encode_json(item))
                for item in batch
                if not isinstance(item, _Close)
            ]
            try:
                if encoded and not await frames.write(encoded):
                    return
                if closing is not None:
                    await self._ws.close(code=closing.code, message=closing.reason.encode())
                    return
            except (ConnectionError, RuntimeError):
                return

    # ---- client payloads -----------------------------------------------------------------

    def _receive(self, raw: str | bytes) -> None:
        if self._closing:
            return
        if not self._within_send_limit():
            self.close(CloseCode.RATE_LIMITED, "You are being rate limited.")
            return
        try:
            payload = json.loads(raw)
            op = payload["op"]
            data = payload.get("d")
        except (ValueError, TypeError, KeyError):
            self.close(CloseCode.DECODE_ERROR, "Error while decoding payload.")
            return
        if op == 1:
            self._last_heartbeat = asyncio.get_running_loop().time()
            if not self.withhold_acks:
                self.send({"op": 11, "s": None, "t": None, "d": None})
        elif op == 2:
            self._identify(data)
        elif op == 6:
            self._resume(data)
        elif self.session is None:
            self.close(CloseCode.NOT_AUTHENTICATED, "Not authenticated.")
        else:
            self._receive_in_session(self.session, op, data)

    def _receive_in_session(self, session: GatewaySession, op: int, data: typing.Any) -> None:
        if op == 8:
            self._request_guild_members(session, data)
        elif op == 4:
            move_bot_in_voice(self.hub.world, session, data)
        elif op == 3:
            pass  # presence updates are accepted and ignored
        else:
            self.close(CloseCode.UNKNOWN_OPCODE, "Unknown opcode.")

    def _request_guild_members(self, session: GatewaySession, data: typing.Any) -> None:
        """Op 8: a payload without `guild_id`, or with neither `query` nor `user_ids`, is
        invalid for the opcode (Discord closes with 4001); a second request for a guild's whole
        member list within 30 s gets RATE_LIMITED instead of chunks."""
        if (
            not isinstance(data, dict)
            or "guild_id" not in data
            or ("query" not in data and "user_ids" not in data)
        ):
            self.close(CloseCode.UNKNOWN_OPCODE, "Unknown opcode.")
            return
        if handshake.asks_for_all_members(data):
            now = asyncio.get_running_loop().time()
            asked = session.all_members_asked.get(str(data["guild_id"]))
            if asked is not None and now - asked < handshake.ALL_MEMBERS_INTERVAL:
                retry_after = handshake.ALL_MEMBERS_INTERVAL - (now - asked)
                session.dispatch("RATE_LIMITED", handshake.rate_limited(data, retry_after))
                return
            session.all_members_asked[str(data["guild_id"])] = now
        for chunk in handshake.member_chunks(self.hub.world, session, data):
            session.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    def _within_send_limit(self) -> bool:
        now = time.monotonic()
        window = self.hub.settings.send_window
        while self._received and now - self._received[0] > window:
            self._received.popleft()
        self._received.append(now)
        return len(self._received) <= self.hub.settings.send_limit

    def _identify(self, data: JSON) -> None:
        if self.session is not None:
            self.close(CloseCode.ALREADY_AUTHENTICATED, "Already authenticated.")
            return
        world = self.hub.world
        if not isinstance(data, dict) or data.get("token") != world.application.bot_token:
            self.close(CloseCode.AUTHENTICATION_FAILED, "Authentication failed.")
            return
        shard = data.get("shard", [0, 1])
        if not (
            isinstance(shard, list)
            and len(shard) == 2
            and all(isinstance(n, int) for n in shard)
            and 0 <= shard[0] < shard[1]
        ):
            self.close(CloseCode.INVALID_SHARD, "Invalid shard.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0 or intents & ~ALL_INTENTS:
            self.close(CloseCode.INVALID_INTENTS, "Invalid intent(s).")
            return
        if intents & PRIVILEGED_INTENTS & ~world.application.privileged_intents:
            self.close(CloseCode.DISALLOWED_INTENTS, "Disallowed intent(s).")
            return
        if not self.hub.may_identify(shard[0], asyncio.get_running_loop().time()):
            # Too soon after another IDENTIFY of this max_concurrency bucket.
            self.send({"op": 9, "s": None, "t": None, "d": False})
            return
        large_threshold = min(max(int(data.get("large_threshold", 50)), 50), 250)
        now = asyncio.get_running_loop().time()
        session = self.hub.open_session(shard[0], shard[1], intents, now)
        session.outbox = self
        self.session = session
        session.dispatch("READY", handshake.ready(world, session, self._gateway_url))
        for guild in world.guilds.values():
            if session.owns_guild(guild.id):
                created = handshake.guild_create(world, guild, intents, large_threshold)
                session.dispatch("GUILD_CREATE", created)

    def _resume(self, data: JSON) -> None:
        if self.session is not None:
            self.close(CloseCode.ALREADY_AUTHENTICATED, "Already authenticated.")
            return
        if not isinstance(data, dict) or data.get("token") != self.hub.world.application.bot_token:
            self.close(CloseCode.AUTHENTICATION_FAILED, "Authentication failed.")
            return
        now = asyncio.get_running_loop().time()
        session = self.hub.resumable_session(str(data.get("session_id")), now)
        seq = data.get("seq")
        previous = session.outbox if session is not None else None
        if session is None or not isinstance(seq, int) or not session.replay_after(seq, self):
            self.send({"op": 9, "s": None, "t": None, "d": False})
            return
        if isinstance(previous, GatewayConnection) and previous is not self:
            previous.session = None
            previous.drop()
        self.session = session
        self.hub.resumes += 1
        self.hub.resumed.append((session.shard_id, now))
        session.dispatch("RESUMED", {})
