"""Starting a hikari shard on an existing gateway session: the one place that touches hikari's
internals for it (hikari 2.7.0).

hikari keeps a shard's session in private attributes of `GatewayShardImpl` (`_session_id`,
`_seq`, `_resume_gateway_url`, `_user_id`) and chooses in `_connect` between IDENTIFY (when
`_seq` is None) and RESUME (otherwise, on `_resume_gateway_url`). Nothing public seeds a new
shard with a session, reads the sequence of the dispatch being handled, or stops a shard
without ending its session: `close()` always sends close code 1001, which ends the session on
Discord. So, here and nowhere else:

- :class:`ResumableShard`, a `GatewayShardImpl` subclass that adds no protocol behaviour:
  :meth:`~ResumableShard.seed` (before `start()`: the first connection RESUMEs), read-only
  `session_id`, `resume_url`, `seq`, `user_id` and `position()` (the four at once), and
  :meth:`~ResumableShard.suspend` (stop with close code 3000, hikari's own code for
  "disconnecting temporarily", so the session stays resumable by the next process).
- :class:`ResumableGatewayBot`, whose `_start_one_shard` is hikari 2.7.0's with
  `ResumableShard` in place of `GatewayShardImpl` and the seed applied.
- One start window when the identify gate is on: hikari's `GatewayBot.start` starts its
  shards in windows of `max_concurrency` (from GET /gateway/bot), 5 s apart, RESUMEs
  included; a process of 16 shards with `max_concurrency` 1 resumed its last shard 75 s after
  its first (a rolling restart's replay waited that long, and a session Discord no longer
  keeps is identified again, losing its gap). With the gate pacing every IDENTIFY per bucket
  across processes, those windows only delay: the bot's REST client is a subclass
  (`__class__` reassigned, as the event manager's in `cluster.py`) whose
  `fetch_gateway_bot_info`, inside `start()` only (a context variable), reports a
  `max_concurrency` of every shard at once. Each shard's own tasks see Discord's value.
- The identify gate (`identify.py`, pacing IDENTIFYs across processes): hikari sends every
  payload through `GatewayShardImpl._send_json(data, *, priority=False)`, IDENTIFY included
  (from `_connect`, after HELLO, for the first session and after an invalid one), and has no
  hook before it. `ResumableShard._send_json` waits for the shard's bucket before an
  IDENTIFY (op 2) and tells the gate when it has left; every other payload passes untouched.

`tests/unit/test_shards_resume.py` checks these names against the installed hikari, so an
upgrade that moves them fails there rather than in production.
"""

from __future__ import annotations

import contextvars
import dataclasses
import time
import typing

import attrs
import hikari
import structlog
from hikari.impl import shard as shard_impl

if typing.TYPE_CHECKING:
    import datetime
    from collections.abc import Mapping

    from townsquare.shards.identify import IdentifyGate

__all__ = [
    "ONE_WINDOW_CONCURRENCY",
    "RESUMABLE_CLOSE_CODE",
    "GatewaySession",
    "ResumableGatewayBot",
    "ResumableShard",
]

_log = structlog.get_logger(__name__)

IDENTIFY_OP: typing.Final = 2
"""The gateway opcode of IDENTIFY (hikari's `shard._IDENTIFY`)."""
_ONE_START_WINDOW: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "townsquare_one_start_window", default=False
)
"""True inside :meth:`ResumableGatewayBot.start` when the identify gate paces IDENTIFYs (see
the module's doc); each shard's start sets it back to False for the shard's own tasks."""
ONE_WINDOW_CONCURRENCY: typing.Final = 1 << 16
"""The `max_concurrency` hikari's start is told then: more shards than any process runs."""
RESUMABLE_CLOSE_CODE: typing.Final = 3000
"""Close code of :meth:`ResumableShard.suspend`: not 1000/1001, so the session stays resumable
(the code hikari itself sends when it reconnects)."""


@dataclasses.dataclass(frozen=True, slots=True)
class GatewaySession:
    """What a shard needs to RESUME a session: Discord's ids and the last sequence handled."""

    session_id: str
    resume_url: str
    seq: int
    user_id: int


class ResumableShard(shard_impl.GatewayShardImpl):
    """hikari's shard, startable on an existing session and stoppable without ending it,
    whose IDENTIFYs wait for `identify_gate` (if any)."""

    __slots__ = ("identify_gate",)

    def __init__(
        self, *args: typing.Any, identify_gate: IdentifyGate | None = None, **kwargs: typing.Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.identify_gate = identify_gate

    async def _send_json(self, data: Mapping[str, typing.Any], *, priority: bool = False) -> None:
        gate = self.identify_gate
        if gate is None or data.get("op") != IDENTIFY_OP:
            await super()._send_json(data, priority=priority)
            return
        permit = await gate.acquire(self._shard_id)
        await super()._send_json(data, priority=priority)
        await gate.sent(permit)

    def seed(self, session: GatewaySession) -> None:
        """Make the first connection RESUME `session` (call before `start()`).

        If the session is gone, Discord answers INVALID_SESSION (false) and hikari identifies
        a new one, as after any failed RESUME.
        """
        if self.is_alive:
            raise RuntimeError("seed a shard before starting it")
        self._session_id = session.session_id
        self._resume_gateway_url = session.resume_url
        self._seq = session.seq
        # READY sets the bot's user id, and a resumed session has no READY; hikari needs it to
        # build guilds from GUILD_CREATE and GUILD_UPDATE.
        self._user_id = hikari.Snowflake(session.user_id)

    def position(self) -> tuple[str, str, int, int] | None:
        """`(session_id, resume_url, seq, user_id)` of the dispatch being (or last) handled;
        None before the first READY. One call on the hot path, not four properties."""
        if self._session_id is None or self._resume_gateway_url is None or self._seq is None:
            return None
        assert self._user_id is not None  # set with the session, by READY or `seed`
        return (self._session_id, self._resume_gateway_url, self._seq, self._user_id)

    @property
    def session_id(self) -> str | None:
        return self._session_id

    @property
    def resume_url(self) -> str | None:
        return self._resume_gateway_url

    @property
    def seq(self) -> int | None:
        """The sequence of the dispatch being (or last) handled."""
        return self._seq

    @property
    def user_id(self) -> int | None:
        return self._user_id

    async def suspend(self) -> None:
        """Stop like `close()`, but leave the session resumable.

        hikari's keep-alive closes its websocket with 1001 on the way out; taking the socket
        first (before the keep-alive task is cancelled, with no await in between) leaves it
        nothing to close, and the socket is then closed here with
        :data:`RESUMABLE_CLOSE_CODE`. Dispatches that arrive meanwhile are never read, so
        Discord replays them to whoever resumes.
        """
        ws, self._ws = self._ws, None
        try:
            if self.is_alive:
                await self.close()
        finally:
            if ws is not None:
                await ws.send_close(code=RESUMABLE_CLOSE_CODE, message=b"shard process stopping")


class _StartInOneWindow(hikari.impl.RESTClientImpl):
    """The bot's REST client, whose GET /gateway/bot tells hikari's start to start every shard
    in one window while :data:`_ONE_START_WINDOW` is set (see the module's doc)."""

    __slots__ = ()

    async def fetch_gateway_bot_info(self) -> hikari.GatewayBotInfo:
        info = await super().fetch_gateway_bot_info()
        if not _ONE_START_WINDOW.get():
            return info
        limit = attrs.evolve(info.session_start_limit, max_concurrency=ONE_WINDOW_CONCURRENCY)
        return attrs.evolve(info, session_start_limit=limit)


class ResumableGatewayBot(hikari.GatewayBot):
    """A `GatewayBot` whose shards are :class:`ResumableShard` s, seeded from `sessions`, and
    started in one window when `identify_gate` paces their IDENTIFYs."""

    __slots__ = ("identify_gate", "sessions")

    def __init__(self, *args: typing.Any, **kwargs: typing.Any) -> None:
        super().__init__(*args, **kwargs)
        if type(self._rest) is not hikari.impl.RESTClientImpl:
            raise TypeError(f"unexpected hikari REST client {type(self._rest).__name__}")
        self._rest.__class__ = _StartInOneWindow
        self.sessions: Mapping[int, GatewaySession] = {}
        """Sessions to resume, by shard id; read when each shard starts."""
        self.identify_gate: IdentifyGate | None = None
        """Paces every shard's IDENTIFYs across processes (`identify.py`), and then every
        shard starts at once; None: hikari's own pacing of this process's start only."""

    async def start(self, **kwargs: typing.Any) -> None:
        """hikari's start; with the identify gate, every shard at once (see the module)."""
        token = _ONE_START_WINDOW.set(self.identify_gate is not None)
        try:
            await super().start(**kwargs)
        finally:
            _ONE_START_WINDOW.reset(token)

    async def _start_one_shard(
        self,
        *,
        activity: hikari.Activity | None,
        afk: bool,
        idle_since: datetime.datetime | None,
        status: hikari.Status,
        large_threshold: int,
        shard_id: int,
        shard_count: int,
        url: str,
    ) -> None:
        # This task's own context: the shard's tasks (its identify gate asking GET
        # /gateway/bot for the buckets) see Discord's max_concurrency.
        _ONE_START_WINDOW.set(False)
        # hikari 2.7.0's GatewayBot._start_one_shard, with ResumableShard and the seed.
        new_shard = ResumableShard(
            http_settings=self._http_settings,
            proxy_settings=self._proxy_settings,
            event_manager=self._event_manager,
            event_factory=self._event_factory,
            intents=self._intents,
            capabilities=self._capabilities,
            dumps=self._dumps,
            loads=self._loads,
            initial_activity=activity,
            initial_is_afk=afk,
            initial_idle_since=idle_since,
            initial_status=status,
            large_threshold=large_threshold,
            shard_id=shard_id,
            shard_count=shard_count,
            token=self._token,
            url=url,
            identify_gate=self.identify_gate,
        )
        if (session := self.sessions.get(shard_id)) is not None:
            new_shard.seed(session)
            _log.info("resuming gateway session", shard=shard_id, seq=session.seq)
        try:
            start = time.time()
            await new_shard.start()
            end = time.time()
        except Exception:
            if new_shard.is_alive:
                await new_shard.close()
            raise
        if not new_shard.is_alive:
            msg = f"shard {shard_id} shut down immediately when starting"
            raise RuntimeError(msg)
        _log.debug("shard started", shard=shard_id, ms=round((end - start) * 1000, 1))
        self._shards[shard_id] = new_shard
