"""The whole XP pipeline in the test (a pytest plugin: fixture `stack`): a shard on the
sandbox, a worker, and messages created in the sandbox's world at chosen times
(`SteppedClock`), with what each should become."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import random
import time
import typing

import pytest

from tests.support.shards import shards_running
from tests.support.waiting import wait_until
from tests.support.workers import running_worker
from tests.support.world import demo_guild
from tests.support.xp import wait_drained
from townsquare.core.discord import sandbox_info_path, write_sandbox_info
from townsquare.core.events import MessageRecord, encode_job
from townsquare.core.events.wire import DATA_FIELD
from townsquare.core.settings import load_settings
from townsquare.core.snowflakes import snowflake_ms
from townsquare.tasks.registry import load_tasks

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence
    from pathlib import Path

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.sandbox import Sandbox
    from townsquare.sandbox.world.models import Guild

__all__ = [
    "COOLDOWN_GAPS",
    "WITHIN",
    "Post",
    "Stack",
    "SteppedClock",
    "chat_plan",
    "create_posts",
    "enqueue",
    "int_hash",
    "pipeline_running",
    "settings_for",
    "settled",
]

WITHIN = 45.0
"""Upper bound of every wait (notices may wait out the sandbox's 5-per-5-s channel limit)."""


class SteppedClock:
    """The sandbox's clock: whatever time the test set last.

    It starts an hour back, before every chosen time: the sandbox's snowflakes never go
    backwards, so an id made at the real time before the chat (a registered command, say)
    would push every chosen time after it.
    """

    def __init__(self) -> None:
        self.now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)

    def __call__(self) -> datetime.datetime:
        return self.now

    def set_ms(self, unix_ms: int) -> None:
        self.now = datetime.datetime.fromtimestamp(unix_ms / 1000, tz=datetime.UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class Post:
    """One message to inject: when (Unix ms), who, where."""

    ts: int
    author: int
    channel: int


COOLDOWN_GAPS: typing.Final = (5_000, 30_000, 59_999, 60_000, 60_001, 90_000)
"""Milliseconds between a member's messages: below, exactly at and above the 60 s cooldown."""


def chat_plan(
    authors: Sequence[int],
    channels: Sequence[int],
    *,
    per_member: int,
    seed: int,
    gaps: Sequence[int] = COOLDOWN_GAPS,
) -> list[Post]:
    """Each member's messages at `gaps` (chosen at random) from 45 minutes ago, interleaved
    in time order; keep `per_member` times the mean gap under 45 minutes (the lateness
    window is an hour)."""
    rng = random.Random(seed)
    start = int(time.time() * 1000) - 45 * 60_000
    posts = []
    for index, author in enumerate(authors):
        ts = start + index * 1_000
        for _ in range(per_member):
            posts.append(Post(ts, author, rng.choice(channels)))
            ts += rng.choice(gaps)
    return sorted(posts, key=lambda p: p.ts)


def create_posts(
    sandbox: Sandbox, clock: SteppedClock, posts: Sequence[Post]
) -> list[MessageRecord]:
    """Create the messages in the sandbox's world at their chosen times; returns what each
    should become, built from the sandbox's own view (not from the shard's records)."""
    world, guild = sandbox.world, demo_guild(sandbox)
    expected = []
    for number, post in enumerate(posts):
        clock.set_ms(post.ts)
        channel = world.channel(post.channel)
        assert channel is not None
        message = world.create_message(channel, post.author, f"chat line {number}")
        assert snowflake_ms(message.id) == post.ts  # the chosen time, in the id
        expected.append(
            MessageRecord(
                guild_id=guild.id,
                channel_id=post.channel,
                author_id=post.author,
                message_id=message.id,
                timestamp_ms=post.ts,
                role_ids=tuple(guild.members[post.author].role_ids),
                length=len(message.content),
                mention_count=0,
                link_count=0,
            )
        )
    clock.now = datetime.datetime.now(datetime.UTC)
    return expected


@contextlib.asynccontextmanager
async def pipeline_running(
    sandbox: Sandbox,
    settings: Settings,
    redis: aioredis.Redis,
    redis_url: str,
    keyspace: Keyspace,
    pipelines: Sequence[str] = ("xp", "jobs"),
) -> AsyncIterator[None]:
    """A worker and the shard, returning once the shard's guild record has been applied."""
    guild = demo_guild(sandbox)
    async with (
        running_worker(settings, redis_url, keyspace, load_tasks(), pipelines),
        shards_running(settings, redis_url, keyspace, sandbox.info),
    ):
        await wait_until(
            lambda: redis.hexists(keyspace.key("xp_guild", guild.id), "name"),
            within=WITHIN,
            what="the guild record applied",
        )
        yield


async def settled(redis: aioredis.Redis, keyspace: Keyspace, guild: Guild, messages: int) -> None:
    """Every message counted, then both pipelines drained (level jobs are queued by the
    task that records the level, before it is acknowledged, so a drained `xp` stream has
    queued them all)."""
    key = keyspace.key("xp_messages", guild.id)

    async def counted() -> bool:
        return sum(int(v) for v in await redis.hvals(key)) == messages

    await wait_until(counted, within=WITHIN, what=f"{messages} messages counted")
    await wait_drained(redis, keyspace, "xp", "jobs", within=WITHIN)


async def int_hash(redis: aioredis.Redis, key: str) -> dict[int, int]:
    return {int(k): int(v) for k, v in (await redis.hgetall(key)).items()}


async def enqueue(
    redis: aioredis.Redis, keyspace: Keyspace, pipeline: str, task: str, **kwargs: typing.Any
) -> None:
    job = encode_job(task, **kwargs)
    await redis.xadd(keyspace.key("stream", pipeline), {DATA_FIELD: job})


def settings_for(sandbox: Sandbox, tmp_path: Path) -> Settings:
    """Settings whose Discord is this sandbox (no token: it reads `var/sandbox.json`)."""
    settings = load_settings(environ={"TOWNSQUARE__PATHS__VAR_DIR": str(tmp_path)}, env_file=None)
    write_sandbox_info(sandbox_info_path(settings), sandbox.info.as_json())
    return settings


@dataclasses.dataclass(frozen=True, slots=True)
class Stack:
    """The product's processes around the test's sandbox: settings whose Discord is the
    sandbox, the test's Redis namespace, and PostgreSQL connected (`orm`)."""

    sandbox: Sandbox
    redis: aioredis.Redis
    redis_url: str
    keyspace: Keyspace
    settings: Settings

    @property
    def guild(self) -> Guild:
        return demo_guild(self.sandbox)

    def worker(
        self, pipelines: Sequence[str] = ("xp", "jobs")
    ) -> contextlib.AbstractAsyncContextManager[asyncio.Task[None]]:
        """A real worker for `pipelines`, with every task, for a block."""
        return running_worker(self.settings, self.redis_url, self.keyspace, load_tasks(), pipelines)

    def pipeline(
        self, pipelines: Sequence[str] = ("xp", "jobs")
    ) -> contextlib.AbstractAsyncContextManager[None]:
        """A worker and the shard, for a block (`pipeline_running`)."""
        return pipeline_running(
            self.sandbox, self.settings, self.redis, self.redis_url, self.keyspace, pipelines
        )

    async def drained(self, *pipelines: str) -> None:
        """Until each pipeline's stream is delivered and acknowledged."""
        await wait_drained(self.redis, self.keyspace, *pipelines, within=WITHIN)


@pytest.fixture
def stack(
    sandbox: Sandbox,
    redis: aioredis.Redis,
    redis_url: str,
    keyspace: Keyspace,
    orm: None,
    tmp_path: Path,
) -> Stack:
    """The test's `Stack`: its sandbox, Redis namespace and PostgreSQL."""
    return Stack(sandbox, redis, redis_url, keyspace, settings_for(sandbox, tmp_path))
