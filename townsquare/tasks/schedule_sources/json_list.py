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

Relies on private helpers of taskiq-redis 1.2.4 (`_get_time_key`, `_get_data_key`,
`_skip_past_schedules`); `tests/integration/test_tasks_scheduler.py` breaks if they change.
"""

from __future__ import annotations

import datetime
import typing

from redis.asyncio import Redis
from taskiq import ScheduledTask
from taskiq.serializers import JSONSerializer
from taskiq_redis import ListRedisScheduleSource

from townsquare.core.redis_client import guard_connections, is_cluster_url, slot_owner_url
from townsquare.core.replies import as_text

if typing.TYPE_CHECKING:
    from townsquare.core.keyspace import Keyspace

__all__ = ["JsonListScheduleSource", "make_schedule_source"]


class JsonListScheduleSource(ListRedisScheduleSource):
    """Schedules as JSON under one key prefix."""

    def __init__(self, url: str, prefix: str) -> None:
        super().__init__(url, prefix=prefix, serializer=JSONSerializer())
        guard_connections(self._connection_pool)

    async def startup(self) -> None:
        """Scan for overdue one-off schedules at the next update, once per activation."""
        self._skip_past_schedules = False
        await super().startup()

    async def shutdown(self) -> None:
        """Close the connection pool (taskiq-redis 1.2.4's list source never does)."""
        await super().shutdown()
        await self._connection_pool.disconnect()

    async def get_schedules(self) -> list[ScheduledTask]:
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


async def make_schedule_source(redis_url: str, keyspace: Keyspace) -> JsonListScheduleSource:
    """The platform's schedule source, under the keyspace's `schedules` prefix.

    Every key of the source shares the prefix's hash tag (`{schedules}`), so on a Redis
    Cluster they all live on the node that owns that slot, and the source (taskiq-redis's,
    which talks to one server) is given that node. After a failover or a resharding that
    moves the slot, that node answers MOVED until the scheduler is restarted (docs/tasks.md).
    """
    prefix = keyspace.key("schedules")
    if is_cluster_url(redis_url):
        redis_url = await slot_owner_url(redis_url, prefix)
    return JsonListScheduleSource(redis_url, prefix=prefix)
