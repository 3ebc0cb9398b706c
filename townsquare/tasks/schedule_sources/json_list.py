"""taskiq-redis's list schedule source, made safe and cheap for a long-running scheduler.

- JSON only. taskiq-redis defaults to pickle, and whoever can write the schedule keys would
  run code in the scheduler; this class does not accept a serializer at all.
- `ListRedisScheduleSource`, not the older `RedisScheduleSource`: the latter is deprecated in
  taskiq-redis 1.2.4 (and warns), and SCANs every key of the database on every update.
- The list source looks for overdue one-off schedules by SCANning the whole database for its
  time keys on *every* update. That scan is needed once, when a scheduler becomes active (it
  catches what was due while no scheduler ran); afterwards this class reads the current and
  the previous minute's lists only, which is enough as long as updates come more often than
  once a minute. A one-off schedule added for a time already more than a minute past is
  picked up at the next activation only.

- On a Redis Cluster the source talks to the node owning the `{schedules}` slot. When that
  node answers MOVED or CLUSTERDOWN, or cannot be reached (a failover, a resharding), the
  source asks the cluster for the slot's owner again and moves its pool there; a read is
  then tried once more, a write is not (it may have been applied: the caller's retry
  decides).

Relies on private helpers of taskiq-redis 1.2.4 (`_get_time_key`, `_get_data_key`,
`_skip_past_schedules`, `_connection_pool`); `tests/integration/test_tasks_scheduler.py`
breaks if they change.
"""

from __future__ import annotations

import asyncio
import datetime
import typing

import structlog
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ClusterDownError, MovedError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from taskiq import ScheduledTask
from taskiq.serializers import JSONSerializer
from taskiq_redis import ListRedisScheduleSource

from townsquare.core.redis_client import guard_connections, is_cluster_url, slot_owner_url
from townsquare.core.replies import as_text

if typing.TYPE_CHECKING:
    from townsquare.core.keyspace import Keyspace

__all__ = ["JsonListScheduleSource", "make_schedule_source"]

_SLOT_MOVED: typing.Final = (
    MovedError,
    ClusterDownError,
    TryAgainError,
    RedisConnectionError,
    RedisTimeoutError,
)
"""What the slot owner's node answers (or fails with) once it no longer serves the slot."""

logger = structlog.get_logger(__name__)


class JsonListScheduleSource(ListRedisScheduleSource):
    """Schedules as JSON under one key prefix.

    `cluster_url`: the Redis Cluster whose node `url` is (the owner of the prefix's slot);
    the source follows the slot to its next owner (module docstring).
    """

    def __init__(self, url: str, prefix: str, *, cluster_url: str | None = None) -> None:
        super().__init__(url, prefix=prefix, serializer=JSONSerializer())
        guard_connections(self._connection_pool)
        self.url = url
        self._cluster_url = cluster_url
        self._moving = asyncio.Lock()

    async def _follow_the_slot(self, error: BaseException) -> bool:
        """Point the pool at the slot's current owner; whether it moved."""
        if self._cluster_url is None:
            return False
        async with self._moving:
            try:
                owner = await slot_owner_url(self._cluster_url, self._prefix)
            except _SLOT_MOVED:
                return False  # the cluster is not answering either: tried again next time
            if owner == self.url:
                return False
            previous, self._connection_pool = self._connection_pool, _pool(owner)
            logger.warning(
                "tasks.schedule_source_moved", to=_node(owner), after=type(error).__name__
            )
            self.url = owner
        await previous.disconnect()
        return True

    async def add_schedule(self, schedule: ScheduledTask) -> None:
        try:
            await super().add_schedule(schedule)
        except _SLOT_MOVED as error:
            await self._follow_the_slot(error)
            raise

    async def delete_schedule(self, schedule_id: str) -> None:
        try:
            await super().delete_schedule(schedule_id)
        except _SLOT_MOVED as error:
            await self._follow_the_slot(error)
            raise

    async def startup(self) -> None:
        """Scan for overdue one-off schedules at the next update, once per activation."""
        self._skip_past_schedules = False
        await super().startup()

    async def shutdown(self) -> None:
        """Close the connection pool (taskiq-redis 1.2.4's list source never does)."""
        await super().shutdown()
        await self._connection_pool.disconnect()

    async def get_schedules(self) -> list[ScheduledTask]:
        try:
            return await self._read_schedules()
        except _SLOT_MOVED as error:
            if not await self._follow_the_slot(error):
                raise
        return await self._read_schedules()

    async def _read_schedules(self) -> list[ScheduledTask]:
        rescan = not self._skip_past_schedules
        schedules = await super().get_schedules()
        self._skip_past_schedules = True
        if rescan:
            return schedules
        previous = await self._previous_minute()
        seen = {schedule.schedule_id for schedule in schedules}
        return schedules + [schedule for schedule in previous if schedule.schedule_id not in seen]

    async def _previous_minute(self) -> list[ScheduledTask]:
        minute = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
        async with Redis(connection_pool=self._connection_pool) as redis:
            ids = await redis.lrange(self._get_time_key(minute), 0, -1)
            if not ids:
                return []
            raw = await redis.mget([self._get_data_key(as_text(item)) for item in ids])
        return [
            ScheduledTask.model_validate(self._serializer.loadb(_bytes(item)))
            for item in raw
            if item
        ]


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _pool(url: str) -> BlockingConnectionPool:
    pool = BlockingConnectionPool.from_url(url)
    guard_connections(pool)
    return pool


def _node(url: str) -> str:
    """`host:port` of a node's URL, without its credentials (for the log)."""
    return url.split("://", 1)[-1].rsplit("@", 1)[-1]


async def make_schedule_source(redis_url: str, keyspace: Keyspace) -> JsonListScheduleSource:
    """The platform's schedule source, under the keyspace's `schedules` prefix.

    Every key of the source shares the prefix's hash tag (`{schedules}`), so on a Redis
    Cluster they all live on the node that owns that slot, and the source (taskiq-redis's,
    which talks to one server) is given that node, and follows the slot when it moves.
    """
    prefix = keyspace.key("schedules")
    if is_cluster_url(redis_url):
        owner = await slot_owner_url(redis_url, prefix)
        return JsonListScheduleSource(owner, prefix=prefix, cluster_url=redis_url)
    return JsonListScheduleSource(redis_url, prefix=prefix)
