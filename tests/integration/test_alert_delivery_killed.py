"""Alert delivery SIGKILLed while it sends, then started again: every alert lands in the guild's
log channel exactly once (the outbox and cursor move atomically; a resend after a kill carries
the same nonce)."""

from __future__ import annotations

import asyncio
import functools
import sys
import typing

import pytest
import redis.asyncio as aioredis

from tests.support.alerts import channel_texts
from tests.support.waiting import wait_until
from tests.support.workers import doomed_worker
from tests.support.world import channel_named, demo_guild
from tests.support.xp import configure
from townsquare.core import db
from townsquare.core.alert_delivery import deliver_round
from townsquare.core.alerts import raise_alert
from townsquare.core.discord import resolve_discord_target
from townsquare.core.guilds.service import ensure_guild
from townsquare.core.keyspace import Keyspace
from townsquare.core.settings import load_settings
from townsquare.sandbox import SandboxSettings
from townsquare.sandbox.rest import Bucket, RateLimitSettings
from townsquare.tasks.alert_delivery import guild_log_channel
from townsquare.tasks.resources import TaskResources

if typing.TYPE_CHECKING:
    from pathlib import Path

    from tests.support.pipeline import Stack

pytestmark = pytest.mark.integration

ALERTS = 60


@pytest.fixture
def sandbox_options() -> dict[str, typing.Any]:
    """Channel rate limits out of the way: Discord's 5 messages per 5 s would make the 120
    alerts take a minute (their 429s are delivery postponed, tested elsewhere)."""
    roomy = Bucket(10_000, 1.0)
    return {
        "settings": SandboxSettings(
            rate_limits=RateLimitSettings(routes={}, default=roomy, global_per_second=10_000)
        )
    }


async def deliver_forever(redis_url: str, namespace: str, database_url: str, var_dir: str) -> None:
    """The child: delivery rounds back to back (batch 10, no rate limit) until killed."""
    settings = load_settings(
        environ={
            "TOWNSQUARE__PATHS__VAR_DIR": var_dir,
            "TOWNSQUARE__ALERTING__BATCH": "10",
            "TOWNSQUARE__ALERTING__PER_DESTINATION": "1000",
        },
        env_file=None,
    )
    keyspace = Keyspace(namespace)
    redis = aioredis.Redis.from_url(redis_url)
    resources = TaskResources(settings=settings, keyspace=keyspace, redis=redis)
    async with db.connect(database_url, pool_max=2):
        while True:
            await deliver_round(
                redis,
                keyspace,
                settings.alerting,
                target=resolve_discord_target(settings),
                log_channel_of=functools.partial(guild_log_channel, resources),
            )


async def test_killed_deliveries_lose_nothing_and_send_nothing_twice(
    stack: Stack, database_url: str, tmp_path: Path
) -> None:
    sandbox, redis, keyspace = stack.sandbox, stack.redis, stack.keyspace
    guild = demo_guild(sandbox)
    mod_log = channel_named(guild, "mod-log")
    await ensure_guild(guild.id)
    await configure(guild.id, moderation={"log_channel_id": mod_log})
    for number in range(ALERTS):
        await raise_alert(
            redis, keyspace, source="test", message=f"alert {number:03}", guild_id=guild.id
        )
    args = (stack.redis_url, keyspace.namespace, database_url, str(stack.settings.paths.var_dir))
    outbox = keyspace.key("alert_outbox")
    async with doomed_worker(__name__, *args, log=tmp_path / "child-1.log", stdout=None):
        await wait_until(
            lambda: len(channel_texts(sandbox, mod_log)) >= ALERTS // 3,
            within=30,
            what="a third delivered",
        )
    # Killed mid-send. A new one finishes: the outbox empties, every alert posted.

    async def finished() -> bool:
        return len(channel_texts(sandbox, mod_log)) >= ALERTS and not await redis.xlen(outbox)

    async with doomed_worker(__name__, *args, log=tmp_path / "child-2.log", stdout=None):
        await wait_until(finished, within=30, what="every alert delivered")
    texts = channel_texts(sandbox, mod_log)
    numbers = sorted(int(text.rsplit(" ", 1)[-1]) for text in texts)
    assert numbers == list(range(ALERTS)), "an alert was lost or sent twice"


if __name__ == "__main__":
    asyncio.run(deliver_forever(*sys.argv[1:5]))
