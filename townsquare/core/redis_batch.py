"""Commands issued in the same event-loop turn sent to Redis together, as one pipeline.

A busy HTTP service answers many requests at once, and each public API request makes one
Redis call. redis-py spends about 170 µs of CPU on a command sent on its own and about 40 µs
on one sent in a pipeline of eight (measured here, docs/performance.md): the connection
checkout, the socket write and the reply wait are paid once per pipeline instead of once per
command. :class:`CommandBatcher` collects the commands that callers issue while the event
loop runs its current callbacks and sends them in one pipeline (no transaction) in the next
turn; each caller gets its own reply or its own error. A lone command waits for nothing but
that one loop turn. The same technique is called auto-pipelining in other Redis clients.

Each command still runs on its own in Redis (a script stays atomic); only the round trip is
shared. Within a pipeline, commands run in the order they were issued; more than
:data:`MAX_BATCH` at once are split into pipelines sent side by side. A command whose
arguments cannot be sent (None, say) fails for its caller alone, before it joins a pipeline.

`max_in_flight` (default: no limit) caps the pipelines awaiting their replies; commands issued
meanwhile wait and go together in the next pipeline when one returns. Under a burst that
outpaces Redis (the shards' giveaway clicks) this keeps a few connections busy with large
pipelines instead of opening one connection per loop turn until the pool or the connect
timeout gives out.

On a Redis Cluster the commands are not batched: a cluster pipeline refuses scripts (its
commands may go to different nodes), so each command is sent on its own to its key's node.
"""

from __future__ import annotations

import asyncio
import typing

from redis.asyncio.cluster import RedisCluster

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["MAX_BATCH", "CommandBatcher"]

MAX_BATCH: typing.Final = 128
"""Commands per pipeline at most; more waiting go in the next one, sent at the same time."""

type _Pending = tuple[tuple[typing.Any, ...], asyncio.Future[typing.Any]]


class CommandBatcher:
    """`await batcher.execute_command(...)` like `Redis.execute_command`, sharing round trips."""

    def __init__(
        self, redis: aioredis.Redis, *, max_batch: int = MAX_BATCH, max_in_flight: int | None = None
    ) -> None:
        self._redis = redis
        self._cluster = isinstance(redis, RedisCluster)
        self._encoder = (
            typing.cast("RedisCluster", redis).get_encoder()
            if self._cluster
            else redis.connection_pool.get_encoder()  # type: ignore[no-untyped-call]
        )
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._pending: list[_Pending] = []
        self._sending: set[asyncio.Task[None]] = set()
        self.pipelines_sent = 0
        """Pipelines sent so far (for the metrics and the tests)."""

    async def execute_command(self, *args: typing.Any) -> typing.Any:
        """Send `args` (a command and its arguments) with the others of this loop turn."""
        encoded = tuple(self._encoder.encode(arg) for arg in args)  # DataError: this caller's
        if self._cluster:
            return await self._redis.execute_command(*args)  # type: ignore[no-untyped-call]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[typing.Any] = loop.create_future()
        self._pending.append((encoded, future))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        limit = self._max_in_flight
        while self._pending and (limit is None or len(self._sending) < limit):
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            task = asyncio.create_task(self._send(batch))
            self._sending.add(task)  # keep a reference until it is done
            task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        if self._pending:  # commands that waited for a free slot
            self._flush()

    async def _send(self, batch: list[_Pending]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for args, _ in batch:
                    pipe.execute_command(*args)
                replies = await pipe.execute(raise_on_error=False)
        except Exception as error:  # the connection failed: every caller of the batch sees it
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        except BaseException:  # cancelled (the service stops): so are the callers
            for _, future in batch:
                future.cancel()
            raise
        finally:
            self.pipelines_sent += 1
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def wait_sent(self) -> None:
        """Wait until every pipeline started so far has its replies (for a clean shutdown)."""
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
