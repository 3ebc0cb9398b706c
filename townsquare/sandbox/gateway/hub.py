"""The gateway hub: live sessions, and the fan-out of world dispatches to them."""

from __future__ import annotations

import collections
import dataclasses
import typing

from townsquare.sandbox.gateway.session import GatewaySession

if typing.TYPE_CHECKING:
    from townsquare.sandbox.gateway.connection import GatewayConnection
    from townsquare.sandbox.world import Dispatch, World

__all__ = ["GatewayHub", "GatewaySettings", "IdentifyRecord"]

_IDENTIFY_LOG: typing.Final[int] = 10_000
"""IDENTIFYs kept in `GatewayHub.identifies` (the oldest go first)."""


@dataclasses.dataclass(frozen=True, slots=True)
class GatewaySettings:
    heartbeat_interval_ms: int = 41_250
    """Sent in HELLO; hikari heartbeats at this interval."""
    heartbeat_timeout_factor: float = 1.5
    """A connection whose last heartbeat is older than this many intervals is closed with
    4009 (the first heartbeat counts from HELLO)."""
    backlog: int = 10_000
    """Dispatches kept per session for RESUME."""
    resume_window: float = 120.0
    """Seconds a session stays resumable after its connection dropped (or closed with a code
    other than 1000/1001). Discord keeps a dropped session for a while and does not document
    how long; a RESUME after the window gets INVALID_SESSION (false), as an expired session
    does on Discord. 0 ends a session as soon as its connection goes."""
    send_limit: int = 120
    """Client payloads allowed per `send_window` seconds before close 4008."""
    send_window: float = 60.0
    max_concurrency: int = 1
    """`session_start_limit.max_concurrency` advertised by GET /gateway/bot."""
    identify_interval: float = 0.0
    """Seconds between two IDENTIFYs of one rate-limit bucket (`shard_id % max_concurrency`);
    Discord's is 5. A too early IDENTIFY gets INVALID_SESSION (false). 0 turns the check off
    (the default, so that tests restarting shards are not slowed)."""


@dataclasses.dataclass(frozen=True, slots=True)
class IdentifyRecord:
    """One IDENTIFY that passed the token, shard and intents checks."""

    shard_id: int
    bucket: int
    """`shard_id % max_concurrency`."""
    at: float
    """Loop time it was received."""
    accepted: bool
    """False: too early in its bucket (a violation), answered INVALID_SESSION (false)."""


class GatewayHub:
    """Owns the sessions and routes each world dispatch to those that may see it."""

    def __init__(self, world: World, settings: GatewaySettings) -> None:
        self.world = world
        self.settings = settings
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: set[GatewayConnection] = set()
        self.gateway_url = ""
        """The public websocket URL; set once the server is bound."""
        self._identified: dict[int, float] = {}
        """Identify bucket -> when its last IDENTIFY was accepted (loop time)."""
        self.identifies: collections.deque[IdentifyRecord] = collections.deque(maxlen=_IDENTIFY_LOG)
        """Every IDENTIFY checked for its bucket, oldest first (the control API's
        `GET /_sandbox/gateway/identifies`)."""
        self.violations = 0
        """IDENTIFYs refused as too early in their bucket (only with `identify_interval`)."""
        self.resumes = 0
        """RESUMEs that took a session over."""
        self.resumed: collections.deque[tuple[int, float]] = collections.deque(maxlen=_IDENTIFY_LOG)
        """(shard id, loop time) of each of those RESUMEs, oldest first."""
        world.subscribe(self._fan_out)

    def open_session(
        self, shard_id: int, shard_count: int, intents: int, now: float
    ) -> GatewaySession:
        self._end_expired(now)
        session = GatewaySession(
            shard_id=shard_id,
            shard_count=shard_count,
            intents=intents,
            bot_id=self.world.application.bot_user_id,
            backlog=self.settings.backlog,
        )
        self.sessions[session.session_id] = session
        return session

    def may_identify(self, shard_id: int, now: float) -> bool:
        """Count an IDENTIFY of `shard_id` at `now` if its bucket allows one; record it, and
        count a violation if not."""
        bucket = shard_id % max(self.settings.max_concurrency, 1)
        last = self._identified.get(bucket)
        interval = self.settings.identify_interval
        accepted = interval <= 0 or last is None or now - last >= interval
        self.identifies.append(IdentifyRecord(shard_id, bucket, now, accepted))
        if not accepted:
            self.violations += 1
            return False
        self._identified[bucket] = now
        return True

    def close_session(self, session: GatewaySession) -> None:
        self.sessions.pop(session.session_id, None)

    def resumable_session(self, session_id: str, now: float) -> GatewaySession | None:
        """The session `session_id` if a RESUME may take it over at `now` (loop time).

        A session whose connection went more than `resume_window` seconds ago is ended here
        (sessions are swept lazily: on every RESUME and IDENTIFY)."""
        self._end_expired(now)
        return self.sessions.get(session_id)

    def _end_expired(self, now: float) -> None:
        window = self.settings.resume_window
        expired = [
            session
            for session in self.sessions.values()
            if session.detached_at is not None and now - session.detached_at >= window
        ]
        for session in expired:
            self.close_session(session)

    def _fan_out(self, dispatch: Dispatch) -> None:
        for session in self.sessions.values():
            if session.wants(dispatch):
                session.deliver(dispatch)

    def connections_of(self, shard_id: int | None) -> list[GatewayConnection]:
        """Live, identified connections, of one shard or all."""
        return [
            c
            for c in self.connections
            if c.session is not None and (shard_id is None or c.session.shard_id == shard_id)
        ]
