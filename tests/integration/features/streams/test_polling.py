"""A platform's poll: claimed by one worker when due, then due again after its interval, or
later after errors (doubling, at most an hour)."""

from __future__ import annotations

import typing

from tests.support.redis_cluster import ON_CLUSTER_TOO
from townsquare.features.streams.domain.models import Platform
from townsquare.features.streams.domain.polling import (
    MAX_BACKOFF_SECONDS,
    claim_poll,
    poll_done,
)

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace

pytestmark = ON_CLUSTER_TOO

KICK = Platform.KICK


async def test_a_poll_is_claimed_once_and_backs_off_after_errors(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    now = 1_000_000.0
    assert await claim_poll(redis, keyspace, KICK, now) == 0  # never polled: due
    assert await claim_poll(redis, keyspace, KICK, now) is None  # claimed by the first
    await poll_done(redis, keyspace, KICK, now, interval=60, failures=0)
    assert await claim_poll(redis, keyspace, KICK, now + 59) is None
    assert await claim_poll(redis, keyspace, KICK, now + 60) == 0

    for failures, wait in ((1, 120), (2, 240), (3, 480)):
        await poll_done(redis, keyspace, KICK, now, interval=60, failures=failures)
        assert await claim_poll(redis, keyspace, KICK, now + wait - 1) is None
        assert await claim_poll(redis, keyspace, KICK, now + wait) == failures
    await poll_done(redis, keyspace, KICK, now, interval=60, failures=20)
    assert await claim_poll(redis, keyspace, KICK, now + MAX_BACKOFF_SECONDS) == 20
