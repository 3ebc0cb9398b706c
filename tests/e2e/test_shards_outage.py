"""Redis goes away under a running shard: records are buffered up to `buffer_limit`, the oldest
are dropped beyond it and counted in health, and the rest arrive when Redis is back.

The shard publishes to a Valkey this test starts and stops itself (in a directory under /tmp).
It drives `ShardCluster`, the object `run_shards` runs, to watch the buffer while Redis is away.
"""

from __future__ import annotations

import shutil
import tempfile
import typing
import urllib.parse
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.support.sandbox import post_message, target_of
from tests.support.shards import WAIT, shard_settings, xp_records
from tests.support.waiting import wait_until
from tests.support.world import channel_named, demo_guild, user_named
from townsquare.core.embedded import start_or_attach_valkey
from townsquare.core.events import GuildRecord, MessageRecord
from townsquare.shards import ShardCluster, ShardSet
from townsquare.shards.routes import feature_routes

if typing.TYPE_CHECKING:
    from collections.abc import Iterator

    import aiohttp

    from townsquare.core.embedded import EmbeddedServer
    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox, SandboxInfo


class OwnValkey:
    """A Valkey this test can stop and start again on the same port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.server: EmbeddedServer | None = start_or_attach_valkey(directory)
        self.url = self.server.url
        self.port = urllib.parse.urlparse(self.url).port

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def start(self) -> None:
        self.server = start_or_attach_valkey(self.directory, port=self.port or 0)
        assert self.server.url == self.url


@pytest.fixture
def own_valkey() -> Iterator[OwnValkey]:
    directory = Path(tempfile.mkdtemp(prefix="townsquare-shards-valkey-", dir="/tmp"))
    directory.chmod(0o755)
    valkey = OwnValkey(directory / "valkey")
    try:
        yield valkey
    finally:
        valkey.stop()
        shutil.rmtree(directory, ignore_errors=True)


async def test_redis_outage_buffers_drops_the_oldest_and_delivers_the_rest(
    sandbox: Sandbox,
    info: SandboxInfo,
    http: aiohttp.ClientSession,
    own_valkey: OwnValkey,
    keyspace: Keyspace,
) -> None:
    limit = 5
    settings = shard_settings(
        batch_size=2, batch_ms=10, buffer_limit=limit, health_interval_seconds=0.2
    )
    general = channel_named(demo_guild(sandbox), "general")
    ada = user_named(sandbox, "ada")
    redis = aioredis.Redis.from_url(own_valkey.url)
    # The XP route alone: one record per message, so the buffer's arithmetic is per message.
    xp_only = [route for route in feature_routes() if route.pipeline == "xp"]
    shards = ShardCluster(
        settings, own_valkey.url, keyspace, ShardSet(target_of(info), (0,), 1), routes=xp_only
    )
    try:
        await shards.start()

        async def messages_in_redis() -> set[int]:
            records = await xp_records(redis, keyspace)
            return {r.message_id for r in records if isinstance(r, MessageRecord)}

        before = await post_message(http, info, general, ada, "before the outage")
        await wait_until(
            lambda: _contains(messages_in_redis(), before), within=WAIT, what="first message"
        )
        assert any(isinstance(r, GuildRecord) for r in await xp_records(redis, keyspace))
        await redis.aclose()

        own_valkey.stop()
        during = [
            await post_message(http, info, general, ada, f"during the outage {n}") for n in range(8)
        ]
        await wait_until(
            lambda: (
                shards.stats[0].events >= 1 + 1 + len(during)
                and shards.publisher.backlog == limit
                and shards.publisher.drops == len(during) - limit
            ),
            within=WAIT,
            what="a full buffer with the oldest dropped",
        )
        assert shards.publisher.failures > 0
        assert shards.bot.shards[0].is_connected  # the gateway never waited on Redis

        own_valkey.start()
        redis = aioredis.Redis.from_url(own_valkey.url)
        await wait_until(
            lambda: _contains(messages_in_redis(), *during[-limit:]),
            within=WAIT,
            what="the buffered messages delivered",
        )
        health_key = keyspace.key("shard_health", 0)

        async def health_reports_the_drops() -> bool:
            fields = await redis.hgetall(health_key)
            return fields.get(b"drops") == b"3" and fields.get(b"backlog") == b"0"

        await wait_until(health_reports_the_drops, within=WAIT, what="drops in health")
        assert await messages_in_redis() == {before, *during[-limit:]}
        assert shards.publisher.backlog == 0
    finally:
        await shards.close()
        await redis.aclose()


async def _contains(found: typing.Awaitable[set[int]], *wanted: int) -> bool:
    return set(wanted) <= await found
