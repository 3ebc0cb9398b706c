"""A Redis stream broker for one pipeline, covering what taskiq-redis 1.2.4 leaves open.

taskiq-redis's `RedisStreamBroker.listen` runs XAUTOCLAIM only after XREADGROUP returned new
messages, so a dead worker's messages wait for the next new message, possibly forever on a
quiet pipeline. This broker claims on a timer instead: every `reclaim_interval_seconds`,
whether or not new work arrived, and under a lease so one worker at a time claims. It also
renews the claim on messages it is still running (see :meth:`PipelineBroker.touch_in_flight`),
so a task that runs longer than the idle timeout is not handed to a second worker while the
first is alive. Keys come only from the keyspace: the base class's `autoclaim:` lock and its
`queue_name` label (which would let a message pick any key to write to) are not used.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import typing
import uuid

import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from taskiq import AckableMessage
from taskiq.kicker import AsyncKicker
from taskiq.serializers import ORJSONSerializer
from taskiq_redis import RedisStreamBroker

from townsquare.core.alerts import ALERTS_MAXLEN, alert_fields, raise_alert_once
from townsquare.core.redis_client import (
    connect_redis,
    guard_connections,
    is_cluster_url,
    parse_cluster_url,
)
from townsquare.core.redis_health import CHECK_TIMEOUT_SECONDS, RedisHealth
from townsquare.core.replies import as_text
from townsquare.tasks.brokers import scripts
from townsquare.tasks.dead_letters import dead_letter_fields
from townsquare.tasks.delivery import StreamAck
from townsquare.tasks.errors import AbandonedJobError
from townsquare.tasks.locks import RedisLease

if typing.TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Container, Mapping

    from taskiq.message import BrokerMessage

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import PipelineSettings, TasksSettings
    from townsquare.tasks.registry import Pipeline

__all__ = ["CONSUMER_GROUP", "RENEW_RETRY_SECONDS", "PipelineBroker"]

CONSUMER_GROUP: typing.Final = "workers"
"""The one consumer group on every pipeline stream: each message goes to one worker."""

RENEW_RETRY_SECONDS: typing.Final = 1.0
"""After a failed claim renewal the worker tries again this soon (or at its usual interval
when that is shorter)."""

_XREAD_BLOCK_MS = 2000
_RECLAIM_ROUNDS = 10
"""XAUTOCLAIM calls per reclaim round at most, so a huge pending list cannot stall listening."""
_TOUCH_BATCH = 500

_Entry = tuple[bytes, "Mapping[bytes, bytes] | None"]
_ReadReply = list[tuple[bytes, list[_Entry]]] | None

logger = structlog.get_logger(__name__)


def _json_object(data: bytes | None) -> dict[str, typing.Any]:
    try:
        value = json.loads(data) if data is not None else None
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {}


def _first_node_url(url: str) -> str:
    parsed = parse_cluster_url(url)
    return parsed.node_url(*parsed.nodes[0])


def _consumer_name() -> str:
    """Host, pid and a random suffix: readable in XINFO CONSUMERS, unique per broker."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class PipelineBroker(RedisStreamBroker):
    """The stream, retry set and dead-letter stream of one pipeline."""

    def __init__(
        self,
        url: str,
        *,
        pipeline: Pipeline,
        tasks: TasksSettings,
        keyspace: Keyspace,
        consumer_name: str | None = None,
    ) -> None:
        settings: PipelineSettings = getattr(tasks, pipeline)
        self._cluster = is_cluster_url(url)
        # On a cluster the base class's connection pool (one server's) is never used: every
        # command goes through `self._redis`, the cluster client.
        base_url = _first_node_url(url) if self._cluster else url
        super().__init__(
            base_url,
            queue_name=keyspace.key("stream", pipeline),
            consumer_group_name=CONSUMER_GROUP,
            consumer_name=consumer_name or _consumer_name(),
            # "0", not "$": when the group is first created, messages queued before any
            # worker ever started are processed instead of skipped.
            consumer_id="0",
            mkstream=True,
            xread_block=_XREAD_BLOCK_MS,
            maxlen=settings.maxlen,
            approximate=True,
            idle_timeout=round(settings.idle_timeout_seconds * 1000),
            unacknowledged_batch_size=settings.max_concurrent_tasks,
            # Read no more than the worker can start: a message waiting in memory ages in the
            # pending list and would look abandoned to the other workers.
            xread_count=settings.max_concurrent_tasks,
            max_connection_pool_size=settings.max_concurrent_tasks + 8,
        )
        guard_connections(self.connection_pool)
        # orjson instead of taskiq's default stdlib JSON: the same JSON, at a fraction of the
        # CPU (decoding job messages was a seventh of a busy xp worker's time).
        self.serializer = ORJSONSerializer(option=orjson.OPT_NON_STR_KEYS)
        self.pipeline: Pipeline = pipeline
        self.settings = settings
        self.reclaim_interval = tasks.reclaim_interval_seconds
        self.dead_letter_key = keyspace.key("dead_letter", pipeline)
        self.alerts_key = keyspace.key("alerts")
        self.health = RedisHealth()
        """What this process knows of Redis's availability (the worker shares one)."""
        self.dead_letter_maxlen = tasks.dead_letter_maxlen
        self.retry_key = keyspace.key("retry", pipeline)
        self._redis: Redis = (
            connect_redis(url, max_connections=settings.max_concurrent_tasks + 8)
            if self._cluster
            else Redis(connection_pool=self.connection_pool)
        )
        self._keyspace = keyspace
        reclaim_ttl = keyspace.ttl("reclaim_lock") or 30
        self._reclaim_lease = RedisLease(
            self._redis, keyspace.key("reclaim_lock", pipeline), reclaim_ttl
        )
        self._defer = self._redis.register_script(scripts.DEFER)
        self._move_due = self._redis.register_script(scripts.MOVE_DUE)
        self._touch_owned = self._redis.register_script(scripts.TOUCH_OWNED)
        self._in_flight: dict[str, StreamAck] = {}
        self._running: set[str] = set()
        """Entries whose task has started here (:meth:`started`) and is not settled yet."""
        self._held: set[str] = set()
        """Entries left pending on purpose (`StreamAck.hold`): a reclaim's, after the idle
        timeout, with their delivery counted, never :meth:`_stranded`'s. Pruned to what is
        still this consumer's whenever its whole pending list is read."""

    # -- producing ---------------------------------------------------------------------------

    async def kick(self, message: BrokerMessage) -> None:
        """Append `message` to this pipeline's stream (never to a key named by a label)."""
        await self._redis.xadd(
            self.queue_name, {b"data": message.message}, maxlen=self.maxlen, approximate=True
        )

    async def enqueue(self, task_name: str, *args: object, **kwargs: object) -> str:
        """Queue a call of `task_name` on this pipeline; returns the job's task id."""
        kicker: AsyncKicker[..., typing.Any] = AsyncKicker(task_name, self, {})
        task = await kicker.kiq(*args, **kwargs)
        return str(task.task_id)

    # -- consuming ---------------------------------------------------------------------------

    async def declare_group(self) -> None:
        """Create the stream and its consumer group if missing (idempotent)."""
        await self._declare_consumer_group()

    async def _declare_consumer_group(self) -> None:
        try:
            await self._redis.xgroup_create(
                self.queue_name, self.consumer_group_name, id=self.consumer_id, mkstream=True
            )
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def _connection(self) -> contextlib.AbstractAsyncContextManager[Redis]:
        """A client for a long blocking read: the pool's own on a single server, the
        cluster client (which routes to the stream's node) on a cluster."""
        if self._cluster:
            return contextlib.nullcontext(self._redis)
        return Redis(connection_pool=self.connection_pool)

    async def listen(self) -> AsyncGenerator[AckableMessage]:
        """New messages, and on a timer the messages other workers left pending too long."""
        loop = asyncio.get_running_loop()
        next_reclaim = loop.time()
        async with self._connection() as conn:
            # What this consumer read and never ran, when a receiver restarts: none of it
            # would run again before its idle timeout (three minutes on `ai`) otherwise.
            stranded = await self._stranded(conn, running=self._running)
            for message in await self._deliverables(stranded):
                yield message
            while True:
                entries: list[_Entry] = []
                if loop.time() >= next_reclaim:
                    next_reclaim = loop.time() + self.reclaim_interval
                    # Entries of this consumer this process never had: a read whose reply
                    # was lost while the client retried it (a cluster client does).
                    entries = await self._stranded(conn, running=self._in_flight)
                    entries += await self._reclaim(conn)
                if not entries:
                    block_ms = max(1, min(self.block, round((next_reclaim - loop.time()) * 1000)))
                    fetched: _ReadReply = await conn.xreadgroup(  # type: ignore[assignment]
                        self.consumer_group_name,
                        self.consumer_name,
                        {self.queue_name: ">"},
                        count=self.count,
                        block=block_ms,
                    )
                    entries = [entry for _stream, batch in fetched or () for entry in batch]
                # The whole batch is tracked before the first message is handed out, so the
                # ones still waiting here for a free slot have their claim renewed too.
                for message in await self._deliverables(entries):
                    yield message

    async def _stranded(self, conn: Redis, *, running: Container[str]) -> list[_Entry]:
        """This consumer's pending entries but those in `running`, with their fields.

        A receiver that stops on a lost connection leaves two kinds behind: entries it was
        handed but had not started (queued in taskiq's receiver, which drops them, or the rest
        of a batch), whose claim this worker even keeps renewing; and entries a `XREADGROUP`
        delivered whose reply was lost with the connection, which this worker never saw. Both
        are in this consumer's pending list (the consumer name is unique to this broker, so a
        fresh worker's is empty: one round trip). The list is read with `XPENDING` and the
        fields with `XRANGE`, which leave the entries' delivery counts alone (reading them
        with `XREADGROUP` would count deliveries no worker died of, and a later reclaim would
        take the job for a poison one). Bounded like a reclaim round.
        """
        ids: list[str] = []
        pending: set[str] = set()
        start = "-"
        for _ in range(_RECLAIM_ROUNDS):
            page = await conn.xpending_range(
                self.queue_name,
                self.consumer_group_name,
                min=start,
                max="+",
                count=self.unacknowledged_batch_size,
                consumername=self.consumer_name,
            )
            page_ids = [as_text(entry["message_id"]) for entry in page]
            pending.update(page_ids)
            ids += [i for i in page_ids if i not in running and i not in self._held]
            if len(page_ids) < self.unacknowledged_batch_size:
                self._held &= pending  # the whole list was read: the others are gone
                break
            start = f"({page_ids[-1]}"
        if not ids:
            return []
        async with conn.pipeline(transaction=False) as batch:
            for message_id in ids:
                batch.xrange(self.queue_name, message_id, message_id)
            found = await batch.execute()
        logger.warning("tasks.stranded_redelivered", pipeline=self.pipeline, count=len(ids))
        # An entry trimmed away meanwhile has no fields: `_deliverables` acknowledges it.
        return [
            (message_id.encode(), entry[0][1] if entry else None)
            for message_id, entry in zip(ids, found, strict=True)
        ]

    def started(self, message_id: str) -> None:
        """The receiver started the task of entry `message_id` (until it is settled)."""
        self._running.add(message_id)

    def reclaim_quiet_seconds(self) -> float:
        """How long Redis must have answered this worker before it reclaims anything.

        During an outage (a BUSY script, a lost connection) no worker can renew its claims, so
        every entry looks idle when Redis answers again. A live owner renews within a renewal
        interval (a third of the idle timeout) of its last success, or within
        :data:`RENEW_RETRY_SECONDS` of its last failure; this worker's last failure is at most
        a health check (:data:`CHECK_TIMEOUT_SECONDS`) before Redis answered. Until all that
        and a reclaim interval have passed without a failure, an idle entry says nothing
        about its owner being gone.
        """
        return (
            self.settings.idle_timeout_seconds / 3
            + RENEW_RETRY_SECONDS
            + CHECK_TIMEOUT_SECONDS
            + self.reclaim_interval
        )

    async def _reclaim(self, conn: Redis) -> list[_Entry]:
        if self.health.healthy_for() < self.reclaim_quiet_seconds():
            return []
        claimed: list[_Entry] = []
        async with self._reclaim_lease.held() as acquired:
            if not acquired:
                return []
            cursor: bytes | str = "0-0"
            for _ in range(_RECLAIM_ROUNDS):
                reply = await conn.xautoclaim(
                    self.queue_name,
                    self.consumer_group_name,
                    self.consumer_name,
                    min_idle_time=self.idle_timeout,
                    start_id=cursor,
                    count=self.unacknowledged_batch_size - len(claimed),
                )
                cursor = reply[0]
                claimed.extend(typing.cast("list[_Entry]", reply[1]))
                if cursor in (b"0-0", "0-0") or len(claimed) >= self.unacknowledged_batch_size:
                    break
        if not claimed:
            return []
        logger.warning(
            "tasks.reclaimed",
            pipeline=self.pipeline,
            count=len(claimed),
            idle_timeout_seconds=self.settings.idle_timeout_seconds,
        )
        return await self._without_poison(conn, claimed)

    async def _without_poison(self, conn: Redis, claimed: list[_Entry]) -> list[_Entry]:
        """Dead-letter entries whose every worker died running them; return the rest.

        A job that crashes its worker (out of memory, a segfault in a library) would
        otherwise be reclaimed and crash the next worker forever. Each stream entry counts
        its deliveries; past `max_attempts`, the entry is buried instead of run again.
        """
        async with conn.pipeline(transaction=False) as batch:
            for entry_id, _ in claimed:
                batch.xpending_range(
                    self.queue_name, self.consumer_group_name, entry_id, entry_id, 1
                )
            replies = await batch.execute()
        runnable: list[_Entry] = []
        for (entry_id, fields), reply in zip(claimed, replies, strict=True):
            delivered = int(reply[0]["times_delivered"]) if reply else 1
            if delivered <= self.settings.max_attempts or fields is None:
                runnable.append((entry_id, fields))
                continue
            message_id = as_text(entry_id)
            payload = _json_object(fields.get(b"data"))
            error = AbandonedJobError(
                f"delivered {delivered} times, and each time the worker holding it stopped "
                f"renewing its claim for over {self.settings.idle_timeout_seconds:g} s while "
                "Redis answered: killed, out of memory, crashed, its event loop blocked, or "
                "cut off from Redis alone"
            )
            dead = dead_letter_fields(
                payload, pipeline=self.pipeline, error=error, attempts=delivered - 1
            )
            await self.bury(dead, StreamAck(message_id, self._xack, self._forget))
            logger.error(
                "tasks.dead_lettered",
                job_id=dead["task_id"],
                task_name=dead["task_name"],
                pipeline=self.pipeline,
                error=dead["error"],
            )
        return runnable

    async def _deliverables(self, entries: list[_Entry]) -> list[AckableMessage]:
        messages: list[AckableMessage] = []
        unreadable: list[str] = []
        for entry_id, fields in entries:
            message_id = as_text(entry_id)
            data = None if fields is None else fields.get(b"data")
            if data is None:
                unreadable.append(message_id)
                continue
            ack = StreamAck(message_id, self._xack, self._forget)
            self._in_flight[message_id] = ack
            self._held.discard(message_id)  # reclaimed: this delivery decides afresh
            messages.append(AckableMessage(data=data, ack=ack))
        if unreadable:
            # Trimmed away while pending, or not written by a producer of ours: nothing to
            # run, and leaving it pending would reclaim it forever.
            logger.warning("tasks.unreadable_entries", pipeline=self.pipeline, ids=unreadable)
            await self._redis.xack(self.queue_name, self.consumer_group_name, *unreadable)
        return messages

    async def _xack(self, message_id: str) -> None:
        await self._redis.xack(self.queue_name, self.consumer_group_name, message_id)

    def _forget(self, ack: StreamAck) -> None:
        self._in_flight.pop(ack.message_id, None)
        self._running.discard(ack.message_id)
        if ack.held:
            self._held.add(ack.message_id)

    async def touch_in_flight(self) -> int:
        """Reset the idle time of the entries this worker holds; returns how many it still owns.

        The worker calls this every third of the idle timeout. An entry another worker has
        already reclaimed (this one stalled too long) is left with its new owner.
        """
        ids = list(self._in_flight)
        owned = 0
        for start in range(0, len(ids), _TOUCH_BATCH):
            batch = ids[start : start + _TOUCH_BATCH]
            owned += int(
                await self._touch_owned(
                    keys=[self.queue_name],
                    args=[self.consumer_group_name, self.consumer_name, *batch],
                )
            )
        return owned

    # -- retries and dead letters ------------------------------------------------------------

    async def defer(self, message: bytes, delay_seconds: float, ack: StreamAck | None) -> None:
        """Put `message` in the retry set, due in `delay_seconds`, acknowledging its entry."""
        await self._defer(
            keys=[self.retry_key, self.queue_name],
            args=[
                max(0, round(delay_seconds * 1000)),
                message,
                self.consumer_group_name,
                "" if ack is None else ack.message_id,
            ],
        )
        if ack is not None:
            ack.settle()

    async def alert_once(self, condition: str, within_seconds: int, message: str) -> None:
        """An operator alert from this pipeline, unless a process raised one for `condition`
        in the last `within_seconds` (`raise_alert_once`)."""
        await raise_alert_once(
            self._redis,
            self._keyspace,
            condition=condition,
            within_seconds=within_seconds,
            source=f"tasks.{self.pipeline}",
            message=message,
        )

    async def bury(self, fields: Mapping[str, str], ack: StreamAck | None) -> None:
        """Raise the operator alert, then append the dead letter and acknowledge the entry in
        one transaction: a dead letter is never written without its alert, nor twice.

        The alert lives in the `alerts` cluster slot and the dead letter in the pipeline's,
        so they cannot share the transaction; the alert goes first, and a crash in between
        leaves an alert whose dead letter the redelivered entry writes (with a second alert).
        """
        alert = alert_fields(
            source=f"tasks.{self.pipeline}",
            # One key per failing task: a burst of its dead letters is one message with a count.
            key=f"dead_letter/{self.pipeline}/{fields.get('task_name') or '?'}",
            message=(
                f"job {fields.get('task_name') or '?'} ({fields.get('task_id') or '?'}) "
                f"dead-lettered after {fields.get('attempts', '?')} attempts: "
                f"{fields.get('error', '')[:300]}; inspect and replay it from the console"
            ),
        )
        await self._redis.xadd(
            self.alerts_key,
            dict(alert),  # type: ignore[arg-type]
            maxlen=ALERTS_MAXLEN,
            approximate=True,
        )
        async with self._redis.pipeline(transaction=True) as tx:
            entry: dict[typing.Any, typing.Any] = dict(fields)
            tx.xadd(
                self.dead_letter_key,
                entry,
                maxlen=self.dead_letter_maxlen,
                approximate=True,
            )
            if ack is not None:
                tx.xack(self.queue_name, self.consumer_group_name, ack.message_id)
            await tx.execute()
        if ack is not None:
            ack.settle()

    async def move_due_retries(self, limit: int = 100) -> float | None:
        """Move due retries into the stream; returns seconds until the next one, or None."""
        reply = await self._move_due(
            keys=[self.retry_key, self.queue_name], args=[self.maxlen or 0, limit]
        )
        moved, now_ms = int(reply[0]), int(reply[1])
        if moved:
            logger.debug("tasks.retries_due", pipeline=self.pipeline, count=moved)
        if len(reply) < 3:
            return None
        return max(0.0, (float(reply[2]) - now_ms) / 1000)

    async def shutdown(self) -> None:
        """Close this broker's clients and its connection pool."""
        await self._redis.aclose()
        await super().shutdown()
