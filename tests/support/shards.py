"""A running shard (`run_shards`, the real hikari client) against the sandbox, and what it
publishes: the records on the `xp` stream, decoded as a worker would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import typing

from tests.support.sandbox import target_of
from tests.support.settings import settings_in
from tests.support.waiting import wait_until
from townsquare.core.events import GuildRecord, MessageRecord, VoiceStateRecord, parse_records
from townsquare.core.events.wire import DATA_FIELD
from townsquare.shards import run_shards

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.sandbox import SandboxInfo

__all__ = [
    "WAIT",
    "Record",
    "message_ids",
    "of_kind",
    "shard_settings",
    "shards_running",
    "stream_records",
    "wait_for_records",
    "xp_batches",
    "xp_records",
]

WAIT = 15.0
"""Upper bound of every wait on a shard."""
Record = MessageRecord | VoiceStateRecord | GuildRecord


def shard_settings(**shards: object) -> Settings:
    """Default settings with `shards` keys overridden, e.g. `batch_size=5`."""
    return settings_in("shards", **shards)


@contextlib.asynccontextmanager
async def shards_running(
    settings: Settings,
    redis_url: str,
    keyspace: Keyspace,
    info: SandboxInfo,
    shard_ids: tuple[int, ...] = (0,),
    shard_count: int = 1,
) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_shards(
            settings, redis_url, keyspace, target_of(info), shard_ids, shard_count, shutdown=stop
        )
    )
    try:
        yield task
    finally:
        stop.set()
        async with asyncio.timeout(WAIT):
            await task


async def xp_batches(redis: aioredis.Redis, keyspace: Keyspace) -> list[list[Record]]:
    """Every job in the xp stream, decoded as a worker would."""
    batches = []
    for _, fields in await redis.xrange(keyspace.key("stream", "xp")):
        job = json.loads(fields[b"data"])
        assert job["task_name"] == "xp.process_batch"
        assert job["kwargs"] == {}
        (records,) = job["args"]
        batches.append(parse_records(records))
    return batches


async def stream_records(redis: aioredis.Redis, keyspace: Keyspace) -> list[dict[str, typing.Any]]:
    """Every record in the xp stream as the shard wrote it (JSON objects), in order."""
    found = []
    for _, fields in await redis.xrange(keyspace.key("stream", "xp")):
        (batch,) = json.loads(fields[DATA_FIELD.encode()])["args"]
        found += batch
    return found


async def message_ids(redis: aioredis.Redis, keyspace: Keyspace) -> list[int]:
    """The message id of every message record in the xp stream, duplicates included."""
    records = await stream_records(redis, keyspace)
    return [int(r["message_id"]) for r in records if r["kind"] == "message"]


async def xp_records(redis: aioredis.Redis, keyspace: Keyspace) -> list[Record]:
    return [record for batch in await xp_batches(redis, keyspace) for record in batch]


def of_kind[R: Record](records: list[Record], kind: type[R]) -> list[R]:
    return [r for r in records if isinstance(r, kind)]


async def wait_for_records[R: Record](
    redis: aioredis.Redis,
    keyspace: Keyspace,
    kind: type[R],
    predicate: typing.Callable[[R], bool],
    count: int,
    task: asyncio.Task[None],
) -> list[R]:
    found: list[R] = []

    async def enough() -> bool:
        if task.done():
            task.result()
            raise AssertionError("run_shards returned early")
        found[:] = [r for r in of_kind(await xp_records(redis, keyspace), kind) if predicate(r)]
        return len(found) >= count

    await wait_until(enough, within=WAIT, what=f"{count} {kind.__name__}(s) in the xp stream")
    return found
