"""The internal API down is an operator alert (found missing by the chaos suite, issue 17).

With the HTTP service unreachable for 30 s in the chaos run, commands answered that the bot
was unavailable, the shards logged it, and no one was told. Now a call that fails for good
raises an operator alert (one a minute, across shard processes). Here the shards' internal
API is a port nothing listens on, and members use `/xp set` twice: one alert.

Then Redis goes away under the shard too (a proxy cut): a command answers the same clear
"unavailable, try again" (it was the generic "Something went wrong": found by the chaos run's
`/giveaway start` during a Redis outage).
"""

from __future__ import annotations

import typing

import pytest

from tests.support.bot import commands_registered
from tests.support.discord import Discord
from tests.support.sandbox import target_of
from tests.support.settings import settings_in
from tests.support.tcp_proxy import proxied_url, tcp_proxy
from tests.support.waiting import wait_until
from townsquare.core.alerts import parse_alert
from townsquare.core.processes import free_port
from townsquare.shards.cluster import ShardCluster, ShardSet
from townsquare.shards.commands.services import UNAVAILABLE

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
    async with tcp_proxy(redis_url) as redis_proxy:
        shards = ShardCluster(
            settings,
            proxied_url(redis_url, redis_proxy),
            keyspace,
            ShardSet(target_of(sandbox.info), (0,), 1),
        )
        await shards.start()

        async def alerts() -> list[Alert]:
            entries = await redis.xrange(keyspace.key("alerts"))
            return [parse_alert(i.decode(), f) for i, f in entries]

        try:
            await commands_registered(sandbox)
            for _ in range(2):
                answer = await discord.run(
                    "mayor", "/xp set", member=discord.user("alder"), amount=5
                )
                assert answer.content == UNAVAILABLE
            await wait_until(alerts, within=10, what="an alert")
            await redis_proxy.cut()
            answer = await discord.run("mayor", "/xp set", member=discord.user("alder"), amount=5)
            assert answer.content == UNAVAILABLE, "Redis away: the same clear answer"
            assert answer.ephemeral
            await redis_proxy.restore()
        finally:
            await redis_proxy.restore()
            await shards.close()
    [alert] = await alerts()
    assert alert.key == "internal_api_unavailable" and alert.source == "shards"
    assert alert.guild_id is None, "for the operators"
