"""Gateway sessions: what a shard has been sent, so that a RESUME can replay it.

A session outlives its websocket for the hub's resume window, as on Discord: a RESUME on a new
connection within that window takes the session over. Every dispatch for the session's shard
gets the next sequence number and goes into a bounded backlog; if a connection is attached it
is also sent. A RESUME with sequence `s` replays the backlog after `s` on the new connection,
in order, before anything newer, so each event reaches the client exactly once.
"""

from __future__ import annotations

import collections
import secrets
import typing

from townsquare.sandbox.intents import Intent

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import Dispatch
    from townsquare.sandbox.world.payloads import JSON

__all__ = ["GatewaySession", "Outbox"]

_GATED_FIELDS: typing.Final[JSON] = {
    "content": "",
    "embeds": [],
    "attachments": [],
    "components": [],
}


class Outbox(typing.Protocol):
    """Where a session's payloads go: a live connection's send queue."""

    def send(self, payload: JSON) -> None: ...


class GatewaySession:
    """One identified shard session: shard, intents, sequence and backlog."""

    def __init__(
        self, *, shard_id: int, shard_count: int, intents: int, bot_id: int, backlog: int
    ) -> None:
        self.session_id = secrets.token_hex(16)
        self.shard_id = shard_id
        self.shard_count = shard_count
        self.intents = int(intents)
        self.seq = 0
        self._sees_content = bool(self.intents & Intent.MESSAGE_CONTENT)
        self.outbox: Outbox | None = None
        self.detached_at: float | None = None
        """Loop time at which the session's connection went; None while one is attached. The
        hub ends the session once it has been detached for `resume_window` seconds."""
        self.all_members_asked: dict[str, float] = {}
        """Guild id -> loop time of the session's last request for its whole member list
        (op 8 with `query: ""` and `limit: 0`, rate limited by Discord)."""
        self._bot_id = bot_id
        self._backlog: collections.deque[JSON] = collections.deque(maxlen=backlog)

    def owns_guild(self, guild_id: int) -> bool:
        return (guild_id >> 22) % self.shard_count == self.shard_id

    def wants(self, dispatch: Dispatch) -> bool:
        """Whether this session receives `dispatch` (its shard, its intents)."""
        # Plain ints: IntFlag arithmetic costs microseconds per dispatch on the hot path.
        if dispatch.intent and not self.intents & int(dispatch.intent):
            return False
        if dispatch.guild_id is None:
            return self.shard_id == 0
        return self.owns_guild(dispatch.guild_id)

    def deliver(self, dispatch: Dispatch) -> None:
        """Send `dispatch` as this session may see it."""
        data = dispatch.data
        if (
            dispatch.content_gated
            and not self._sees_content
            and dispatch.author_id != self._bot_id
            and self._bot_id not in dispatch.mention_ids
        ):
            data = data | _GATED_FIELDS
        self.dispatch(dispatch.name, data)

    def dispatch(self, name: str, data: JSON) -> None:
        self.seq += 1
        payload = {"op": 0, "t": name, "s": self.seq, "d": data}
        self._backlog.append(payload)
        if self.outbox is not None:
            self.outbox.send(payload)

    def replay_after(self, seq: int, outbox: Outbox) -> bool:
        """Attach `outbox` and send every dispatch after `seq`; False if they are gone."""
        if seq > self.seq or (self._backlog and self._backlog[0]["s"] > seq + 1):
            return False
        self.outbox = outbox
        self.detached_at = None
        for payload in self._backlog:
            if payload["s"] > seq:
                outbox.send(payload)
        return True
