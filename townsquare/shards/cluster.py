"""One hikari `GatewayBot` over a process's shard ids, wired to the publisher and health.

The event handlers only normalise and hand records to the publisher's buffer, so nothing in
them waits on Redis; hikari's heartbeats run in their own tasks and never wait on us either.

After each dispatch the shard's gateway position is marked in the publisher; the session
recorder writes a position to Redis once every record before it is in the streams, and a
restarted process resumes from there (`sessions.py`, `resume.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import typing

import hikari
import structlog
from hikari.events.auto_mod_events import AutoModActionExecutionEvent
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from townsquare.core.alerts import raise_alert_once
from townsquare.core.discord_rest import http_settings
from townsquare.core.premium import Gate, PremiumCatalogue
from townsquare.core.redis_client import connect_redis
from townsquare.shards.api_client import InternalAPIClient
from townsquare.shards.commands import CommandServices, attach_commands, command_guild_ids
from townsquare.shards.health import HealthWriter, ShardStats
from townsquare.shards.identify import IdentifyGate
from townsquare.shards.intents import cache_settings, gateway_intents
from townsquare.shards.member_requests import MemberRequestServer
from townsquare.shards.normaliser import (
    audit_log_record,
    automod_execution_record,
    entitlement_record,
    guild_record,
    member_join_record,
    member_leave_record,
    message_change_record,
    message_record_from_payload,
    voice_record,
)
from townsquare.shards.publisher import BatchPublisher, RedisStreamTransport
from townsquare.shards.resume import ResumableGatewayBot, ResumableShard
from townsquare.shards.routes import Route, feature_routes, route_record
from townsquare.shards.sessions import (
    SessionRecorder,
    SessionStore,
    ShardLeaseLostError,
    session_identity,
)

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from townsquare.core.discord import DiscordTarget
    from townsquare.core.events.records import AnyRecord
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.shards.commands import CommandClients

__all__ = ["DRAIN_SECONDS", "ShardCluster", "ShardSet", "make_gateway_bot"]

_log = structlog.get_logger(__name__)

DRAIN_SECONDS: typing.Final = 5.0
"""On shutdown, how long the publisher may keep trying to deliver its backlog."""
REDIS_CONNECT_TIMEOUT: typing.Final = 2.0
REDIS_COMMAND_TIMEOUT: typing.Final = 5.0
LISTENED_DISPATCHES: typing.Final = frozenset(
    {
        "VOICE_STATE_UPDATE",
        "GUILD_CREATE",
        "GUILD_UPDATE",
        "ENTITLEMENT_CREATE",
        "ENTITLEMENT_UPDATE",
        "ENTITLEMENT_DELETE",
        "GUILD_MEMBER_ADD",
        "AUTO_MODERATION_ACTION_EXECUTION",
        "GUILD_AUDIT_LOG_ENTRY_CREATE",
    }
)
"""Dispatches whose records come from hikari listeners, which run as tasks after the dispatch
(see `ShardCluster._after_dispatch`)."""


def make_gateway_bot(settings: Settings, target: DiscordTarget) -> ResumableGatewayBot:
    """A hikari bot for `target` with the trimmed intents and cache (see `intents`), whose
    shards can start on a recorded session (`resume.py`)."""
    return ResumableGatewayBot(
        target.token.get_secret_value(),
        rest_url=target.rest_url,
        http_settings=http_settings(),
        intents=gateway_intents(settings),
        cache_settings=cache_settings(),
        auto_chunk_members=False,
        banner=None,
        logs=None,
        suppress_optimization_warning=True,
    )


MESSAGE_CHANGES: typing.Final = frozenset(
    {"MESSAGE_UPDATE", "MESSAGE_DELETE", "MESSAGE_DELETE_BULK"}
)
"""Dispatches whose records (edits, deletions) come raw, like MESSAGE_CREATE's."""

type RawHandler = Callable[[hikari.api.GatewayShard, str, dict[str, typing.Any]], None]
"""`handler(shard, event_name, payload)` for a raw dispatch (see :func:`_consume_raw`)."""


def _consume_raw(
    bot: hikari.GatewayBot,
    handlers: Mapping[str, RawHandler],
    after_dispatch: Callable[[hikari.api.GatewayShard, str], None] | None = None,
) -> None:
    """Call `handlers[event_name](shard, event_name, payload)` for every dispatch named in
    `handlers`, inside hikari's dispatch, and `after_dispatch(shard, event_name)` after hikari
    has consumed any dispatch.

    Inside the dispatch, the shard's gateway position (`ResumableShard.position`) is this
    dispatch's; a listener of hikari's events runs later, as a task, when the shard may have
    read further dispatches. And hikari's `ShardPayloadEvent` would give the same payloads,
    but as an event: an object and an asyncio task per gateway event, about a quarter of a
    busy shard's CPU. Instead the bot's event manager gets a subclass (same object, same
    slots; `__class__` is reassigned) whose `consume_raw_event`, hikari's public entry point
    for every dispatch, calls the handler synchronously and then hikari's own as before: if a
    listener for these events is ever added, hikari serves it as usual. An exception in a
    handler is logged, never raised into the shard's gateway loop.
    """
    manager = bot.event_manager
    if not isinstance(manager, hikari.impl.EventManagerImpl):
        raise TypeError(f"unexpected hikari event manager {type(manager).__name__}")

    class _RawDispatches(type(manager)):  # type: ignore[misc]
        __slots__ = ()

        def consume_raw_event(
            self,
            event_name: str,
            shard: hikari.api.GatewayShard,
            payload: dict[str, typing.Any],
        ) -> None:
            handler = handlers.get(event_name)
            if handler is not None:
                try:
                    handler(shard, event_name, payload)
                except Exception:
                    _log.exception("dispatch not normalised", shard=shard.id, dispatch=event_name)
            super().consume_raw_event(event_name, shard, payload)
            if after_dispatch is not None:
                after_dispatch(shard, event_name)

    manager.__class__ = _RawDispatches


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclasses.dataclass(frozen=True, slots=True)
class ShardSet:
    """Which shards a process runs, and against which Discord."""

    target: DiscordTarget
    shard_ids: Sequence[int]
    """Chosen with `parse_shard_selection` and `resolve_shard_selection`."""
    shard_count: int
    cluster: int | None = None
    """Only labels the health hashes."""


class ShardCluster:
    """A running set of shards: the bot, the batching publisher and the health writer.

    `start()` connects every shard; `join()` returns when the bot stops (raising what stopped
    it); `close()` stops the bot, delivers the backlog for up to :data:`DRAIN_SECONDS`, and
    marks the shards `stopped` in their health (which then expires by TTL).
    """

    def __init__(
        self,
        settings: Settings,
        redis_url: str,
        keyspace: Keyspace,
        shards: ShardSet,
        *,
        routes: Sequence[Route] | None = None,
        commands: bool = True,
    ) -> None:
        target, shard_ids, shard_count = shards.target, shards.shard_ids, shards.shard_count
        if not shard_ids:
            raise ValueError("a shard process needs at least one shard id")
        self.settings = settings
        self.shard_ids = tuple(shard_ids)
        self.shard_count = shard_count
        self.routes = feature_routes() if routes is None else tuple(routes)
        self.target = target
        self.bot = make_gateway_bot(settings, target)
        # No client-side retries: the publisher retries with its own backoff and keeps the
        # records meanwhile, and a short timeout tells it sooner that Redis is away.
        self.redis = connect_redis(
            redis_url,
            max_connections=settings.redis.max_connections,
            wait_for_connection=settings.redis.connection_wait_seconds,
            socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
            socket_timeout=REDIS_COMMAND_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )
        maxlens = {
            route.pipeline: settings.tasks.pipeline(route.pipeline).maxlen for route in self.routes
        }
        self.publisher = BatchPublisher(
            RedisStreamTransport(self.redis, keyspace, maxlens),
            batch_size=settings.shards.batch_size,
            batch_ms=settings.shards.batch_ms,
            buffer_limit=settings.shards.buffer_limit,
        )
        if target.identify_pace > 0:
            self.bot.identify_gate = IdentifyGate(
                self.redis,
                keyspace,
                interval=target.identify_pace,
                max_concurrency=self._max_concurrency,
            )
        self.member_requests = (
            MemberRequestServer(self.bot, self.redis, keyspace, self.shard_ids, shard_count)
            if MemberRequestServer.enabled(self.bot)
            else None
        )
        """Answers workers' requests for members in bulk (only with GUILD_MEMBERS)."""
        self.stats = {shard: ShardStats() for shard in self.shard_ids}
        self.health = HealthWriter(
            self.redis,
            keyspace,
            shard_ids=self.shard_ids,
            shard_count=shard_count,
            stats=self.stats,
            shards=lambda: self.bot.shards,
            publisher=self.publisher,
            cluster=shards.cluster,
        )
        identity = session_identity(
            target.rest_url, target.application_id, int(gateway_intents(settings))
        )
        self.sessions = SessionRecorder(
            SessionStore(self.redis, keyspace, shard_count=shard_count, identity=identity),
            self.publisher,
            self.shard_ids,
        )
        self._deferred_marks = dict.fromkeys(self.shard_ids, 0)
        self._with_content = any(route.with_content for route in self.routes)
        self._tasks: list[asyncio.Task[None]] = []
        self.command_services: CommandServices | None = None
        """The slash commands' services; None runs the shards without commands. Replace it
        (e.g. a shorter `confirm_seconds` in tests) before `start()`."""
        if commands:
            api = InternalAPIClient.from_settings(settings)
            api.on_unavailable = lambda: self._alert_api_down(keyspace, api.base_url)
            self.command_services = CommandServices(
                self.redis,
                keyspace,
                settings.guild_defaults,
                # The sandbox takes files (the card is a real PNG there too) but serves no
                # avatars, so cards show the placeholder.
                attachments=True,
                fetch_avatars=not target.is_sandbox,
                api=api,
                gate=Gate(
                    self.redis,
                    keyspace,
                    PremiumCatalogue(settings.premium, sandbox_sku=target.sku_id),
                ),
                public_url=settings.http.public_url,
            )
        self.commands: CommandClients | None = None
        self._alerting: set[asyncio.Task[None]] = set()
        self._subscribe()

    async def _max_concurrency(self) -> int:
        """GET /gateway/bot `session_start_limit.max_concurrency` (asked by the identify gate
        at the first IDENTIFY, once hikari's REST client has started)."""
        info = await self.bot.rest.fetch_gateway_bot_info()
        return info.session_start_limit.max_concurrency

    def _alert_api_down(self, keyspace: Keyspace, url: str) -> None:
        """A call to the internal API failed for good: one operator alert a minute across
        the shard processes (found missing by the chaos suite: an outage told no one)."""

        async def alert() -> None:
            try:
                await raise_alert_once(
                    self.redis,
                    keyspace,
                    condition="internal_api_unavailable",
                    within_seconds=60,
                    source="shards",
                    message=f"the internal API ({url}) could not be reached; commands that "
                    "need it answer that the bot is unavailable until it is back",
                )
            except Exception as error:  # Redis away too: the breaker's log line says it
                _log.warning("internal_api_alert_failed", error=str(error))

        task = asyncio.create_task(alert())
        self._alerting.add(task)
        task.add_done_callback(self._alerting.discard)

    async def start(self) -> None:
        """Start publishing and health, then connect every shard (returns once all are up).

        With commands, the process that runs shard 0 registers them (bulk overwrite) once the
        bot has started: as guild commands in the bot's guilds against the sandbox, so they
        appear at once, and as global commands against Discord (see `commands.client`).
        """
        await self._resume_recorded_sessions()
        self._tasks = [
            asyncio.create_task(self.publisher.run(), name="shards-publisher"),
            asyncio.create_task(
                self.health.run(self.settings.shards.health_interval_seconds),
                name="shards-health",
            ),
            asyncio.create_task(self.sessions.run(), name="shards-sessions"),
        ]
        if self.member_requests is not None:
            self._tasks.append(
                asyncio.create_task(self.member_requests.run(), name="shards-member-requests")
            )
        try:
            if self.command_services is not None and self.commands is None:
                register = 0 in self.shard_ids
                guild_ids = None
                if register and self.target.is_sandbox:
                    guild_ids = await command_guild_ids(self.target)
                self.commands = attach_commands(
                    self.bot, self.command_services, register=register, guild_ids=guild_ids
                )
            await self.bot.start(
                shard_ids=self.shard_ids,
                shard_count=self.shard_count,
                check_for_updates=False,
            )
        except BaseException:
            await self.close()
            raise

    async def _resume_recorded_sessions(self) -> None:
        """Claim the shards' leases and hand the bot the sessions recorded for them."""
        store = self.sessions.store
        try:
            owned = await store.acquire(self.shard_ids)
            recorded = {shard: await store.load(shard) for shard in sorted(owned)}
        except Exception as error:  # Redis away: start new sessions; leases are retried
            _log.warning("gateway sessions not loaded; identifying", error=str(error))
            return
        self.sessions.owned = owned
        if others := set(self.shard_ids) - owned:
            _log.warning(
                "shards run by another process: starting new sessions without resuming",
                shards=sorted(others),
            )
        resumable = {shard: session for shard, session in recorded.items() if session}
        self.bot.sessions = resumable
        for shard, session in resumable.items():
            self.stats[shard].session_id = session.session_id

    async def join(self) -> None:
        """Return when the bot stops; raise what stopped it, or :class:`ShardLeaseLostError`
        when another process took one of this process's shards."""
        gateway = asyncio.ensure_future(self.bot.join())
        lost = asyncio.ensure_future(self.sessions.lease_lost.wait())
        try:
            await asyncio.wait({gateway, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if not gateway.done():
            gateway.cancel()
            raise ShardLeaseLostError("another process took the lease of a shard of this one")
        gateway.result()

    async def close(self) -> None:
        """Stop, leaving every shard's session resumable, and record where each one is.

        The shards stop reading first (`ResumableShard.suspend`: no close code that ends the
        session), then the publisher delivers its backlog, then the delivered positions are
        recorded and the leases released, so the next process resumes at once from exactly
        what reached the streams and Discord replays the rest.
        """
        if self.commands is not None:
            self.commands.close()
        shards = [s for s in self.bot.shards.values() if isinstance(s, ResumableShard)]
        outcomes = await asyncio.gather(*(s.suspend() for s in shards), return_exceptions=True)
        for shard, outcome in zip(shards, outcomes, strict=True):
            if isinstance(outcome, Exception):
                _log.warning("shard not suspended cleanly", shard=shard.id, error=repr(outcome))
        if self.bot.is_alive:
            await self.bot.close()
        tasks, self._tasks = self._tasks, []
        for task in tasks[1:]:
            task.cancel()
        if self.member_requests is not None:
            await self.member_requests.close()
        self.publisher.close()
        if tasks:
            try:
                async with asyncio.timeout(DRAIN_SECONDS):
                    await asyncio.shield(tasks[0])
            except TimeoutError:
                tasks[0].cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.publisher.backlog:
            _log.warning("records not delivered at shutdown", records=self.publisher.backlog)
        try:
            await self.sessions.write()
            await self.sessions.store.release(self.sessions.owned)
        except Exception as error:  # Redis away: the leases run out by themselves
            _log.warning("gateway sessions not recorded at shutdown", error=str(error))
        await self.health.write(stopped=True)
        await self.redis.aclose()

    # ---- gateway events ----------------------------------------------------------------

    def _subscribe(self) -> None:
        bot = self.bot
        # Messages come raw: with no listener for hikari's message events and no message
        # cache, hikari skips building `Message` objects (its consumers only run for events
        # someone listens to or caches), and the record is read from the JSON payload.
        # Leaves come raw too, to carry the dispatch's gateway position.
        raw: dict[str, RawHandler] = {"MESSAGE_CREATE": self._on_message_payload}
        if any(route.kinds & {"message_edit", "message_delete"} for route in self.routes):
            raw |= dict.fromkeys(MESSAGE_CHANGES, self._on_message_change)
        if bot.intents & hikari.Intents.GUILD_MEMBERS:  # anti-raid, or members counted
            bot.subscribe(hikari.MemberCreateEvent, self._on_member_join)
            raw["GUILD_MEMBER_REMOVE"] = self._on_member_leave
        _consume_raw(bot, raw, self._after_dispatch)
        bot.subscribe(hikari.VoiceStateUpdateEvent, self._on_voice_state)
        if self.member_requests is not None:
            bot.subscribe(hikari.MemberChunkEvent, self.member_requests.on_chunk)
        if bot.intents & hikari.Intents.AUTO_MODERATION_EXECUTION:
            bot.subscribe(AutoModActionExecutionEvent, self._on_automod_execution)
        if bot.intents & hikari.Intents.GUILD_MODERATION:  # anti-nuke on in the guild defaults
            bot.subscribe(hikari.AuditLogEntryCreateEvent, self._on_audit_log_entry)
        bot.subscribe(hikari.GuildAvailableEvent, self._on_guild_received)
        bot.subscribe(hikari.GuildJoinEvent, self._on_guild_received)
        bot.subscribe(hikari.GuildUpdateEvent, self._on_guild_update)
        bot.subscribe(hikari.GuildLeaveEvent, self._on_guild_gone)
        bot.subscribe(hikari.GuildUnavailableEvent, self._on_guild_gone)
        bot.subscribe(hikari.EntitlementEvent, self._on_entitlement)
        bot.subscribe(hikari.ShardConnectedEvent, self._on_connected)
        bot.subscribe(hikari.ShardReadyEvent, self._on_ready)
        bot.subscribe(hikari.ShardResumedEvent, self._on_resumed)

    def _publish(self, record: AnyRecord) -> None:
        for route, data in route_record(record, self.routes):
            self.publisher.submit(route.pipeline, data, task_name=route.task_name)

    def _saw(self, shard: hikari.api.GatewayShard) -> int:
        """Count an event of `shard` in its stats; returns now, in Unix milliseconds."""
        now = _now_ms()
        stats = self.stats.get(shard.id)
        if stats is not None:
            stats.saw_event(now)
        return now

    def _on_message_payload(
        self, shard: hikari.api.GatewayShard, event_name: str, payload: Mapping[str, typing.Any]
    ) -> None:
        self._saw(shard)
        record = message_record_from_payload(payload, with_content=self._with_content)
        if record is not None:
            self._publish(record)

    def _on_message_change(
        self, shard: hikari.api.GatewayShard, event_name: str, payload: Mapping[str, typing.Any]
    ) -> None:
        now = self._saw(shard)
        record = message_change_record(event_name, payload, now, with_content=self._with_content)
        if record is not None:
            self._publish(record)

    def _after_dispatch(self, shard: hikari.api.GatewayShard, event_name: str) -> None:
        """Mark the shard's position once every record of this dispatch has been submitted.

        Message records are submitted synchronously, inside the dispatch. Voice and guild
        records come from hikari listeners: hikari has created their tasks by now, and each
        listener submits its record in its first step (no await before `_publish`), so a mark
        scheduled with `call_soon` runs after them (asyncio runs ready callbacks in order). While
        such a mark is pending, later marks of the shard queue behind it, keeping them in order.
        """
        if not isinstance(shard, ResumableShard) or (mark := shard.position()) is None:
            return
        shard_id = shard.id
        deferred = self._deferred_marks.get(shard_id)
        if deferred is None:
            return
        if deferred or event_name in LISTENED_DISPATCHES:
            self._deferred_marks[shard_id] = deferred + 1
            asyncio.get_running_loop().call_soon(self._deferred_mark, shard_id, mark)
        else:
            self.publisher.mark(shard_id, mark)

    def _deferred_mark(self, shard_id: int, mark: tuple[str, str, int, int]) -> None:
        self._deferred_marks[shard_id] -= 1
        self.publisher.mark(shard_id, mark)

    async def _on_voice_state(self, event: hikari.VoiceStateUpdateEvent) -> None:
        self._publish(voice_record(event.state, self._saw(event.shard)))

    async def _on_member_join(self, event: hikari.MemberCreateEvent) -> None:
        self._publish(member_join_record(event.member, self._saw(event.shard)))

    def _on_member_leave(
        self, shard: hikari.api.GatewayShard, event_name: str, payload: Mapping[str, typing.Any]
    ) -> None:
        """Inside the dispatch, so the shard's position is the leave's own (see `_consume_raw`)."""
        position = shard.position() if isinstance(shard, ResumableShard) else None
        dispatch = None if position is None else (position[0], position[2])
        self._publish(member_leave_record(payload, self._saw(shard), dispatch))

    async def _on_automod_execution(self, event: AutoModActionExecutionEvent) -> None:
        self._publish(automod_execution_record(event, self._saw(event.shard)))

    async def _on_audit_log_entry(self, event: hikari.AuditLogEntryCreateEvent) -> None:
        self._saw(event.shard)
        self._publish(audit_log_record(event.entry))

    async def _on_guild_received(
        self, event: hikari.GuildAvailableEvent | hikari.GuildJoinEvent
    ) -> None:
        now = self._saw(event.shard)
        self.stats[event.shard.id].guild_ids.add(event.guild_id)
        self._publish(guild_record(event.guild, event.voice_states.values(), now))

    async def _on_guild_update(self, event: hikari.GuildUpdateEvent) -> None:
        now = self._saw(event.shard)
        if event.guild_id not in self.stats[event.shard.id].guild_ids:
            # Not received by this process (a session resumed from another): its voice states
            # are unknown here, and a guild record replaces the pipeline's with the record's.
            return
        voice_states = self.bot.cache.get_voice_states_view_for_guild(event.guild_id).values()
        self._publish(guild_record(event.guild, voice_states, now))

    async def _on_guild_gone(
        self, event: hikari.GuildLeaveEvent | hikari.GuildUnavailableEvent
    ) -> None:
        self._saw(event.shard)
        self.stats[event.shard.id].guild_ids.discard(event.guild_id)

    async def _on_entitlement(self, event: hikari.EntitlementEvent) -> None:
        self._publish(entitlement_record(event, self._saw(event.shard)))

    async def _on_connected(self, event: hikari.ShardConnectedEvent) -> None:
        if (stats := self.stats.get(event.shard.id)) is not None:
            stats.connects += 1

    async def _on_ready(self, event: hikari.ShardReadyEvent) -> None:
        if (stats := self.stats.get(event.shard.id)) is not None:
            stats.session_id = event.session_id

    async def _on_resumed(self, event: hikari.ShardResumedEvent) -> None:
        if (stats := self.stats.get(event.shard.id)) is not None:
            stats.resumes += 1
