"""The internal API down is an operator alert (found missing by the chaos suite, issue 17).

With the HTTP service unreachable for 30 s in the chaos run, commands answered that the bot
was unavailable, the shards logged it, and no one was told. Now a call that fails for good
raises an operator alert (one a minute, across shard processes). Here the shards' internal
API is a port nothing listens on, and members use `/xp set` twice: one alert.
"""

from __future__ import annotations

import typing

import pytest

from tests.support.bot import commands_registered
from tests.support.discord import Discord
from tests.support.sandbox import target_of
from tests.support.settings import settings_in
from tests.support.waiting import wait_until
from townsquare.core.alerts import parse_alert
from townsquare.core.processes import free_port
from townsquare.shards.cluster import ShardCluster, ShardSet

if typing.TYPE_CHECKING:
    import aiohttp
    import redis.asyncio as aioredis

    from townsquare.core.alerts import Alert
    from townsquare.core.keyspace import Keyspace
    from townsquare.sandbox import Sandbox

pytestmark = pytest.mark.integration


async def test_the_internal_api_down_raises_one_operator_alert(
    sandbox: Sandbox,
    http: aiohttp.ClientSession,
    redis: aioredis.Redis,
    redis_url: str,
    keyspace: Keyspace,
) -> None:
    settings = settings_in(
        "http",
        internal_url=f"http://127.0.0.1:{free_port()}",
        internal_retry_attempts=1,
    )
    discord = Discord(sandbox, http)
    shards = ShardCluster(settings, redis_url, keyspace, ShardSet(target_of(sandbox.info), (0,), 1))
    await shards.start()

    async def alerts() -> list[Alert]:
        entries = await redis.xrange(keyspace.key("alerts"))
        return [parse_alert(i.decode(), f) for i, f in entries]

    try:
        await commands_registered(sandbox)
        for _ in range(2):
            answer = await discord.run("mayor", "/xp set", member=discord.user("alder"), amount=5)
            assert "unavailable" in answer.content.lower()
        await wait_until(alerts, within=10, what="an alert")
    finally:
        await shards.close()
    [alert] = await alerts()
    assert alert.key == "internal_api_unavailable" and alert.source == "shards"
    assert alert.guild_id is None, "for the operators"
