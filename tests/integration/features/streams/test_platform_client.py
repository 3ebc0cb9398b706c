"""The platform client's app token and rate limits, against a small Helix stand-in served on
a loopback port: the token cached in Redis and renewed on a 401, a 429 waited out until
`Ratelimit-Reset`, and `Ratelimit-Remaining: 0` honoured before the next request, by this
process and, through the bucket shared in Redis, by every other."""

from __future__ import annotations

import time
import typing

import aiohttp
import pytest
from aiohttp import web

from tests.support.services import serving_aiohttp
from townsquare.features.streams.domain.access import SANDBOX_CLIENT_SECRET, PlatformAccess
from townsquare.features.streams.domain.models import Platform
from townsquare.features.streams.domain.platforms import base, ratelimit
from townsquare.features.streams.domain.platforms.twitch import TwitchClient

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import redis.asyncio as aioredis

    from townsquare.core.keyspace import Keyspace


class Helix:
    """Tokens and `GET /helix/users`, answering as told by `plan` (one status per request)."""

    def __init__(self) -> None:
        self.plan: list[tuple[int, dict[str, str]]] = []
        self.tokens = 0
        self.requests: list[tuple[float, str]] = []

    async def token(self, _: web.Request) -> web.Response:
        self.tokens += 1
        return web.json_response({"access_token": f"t{self.tokens}", "expires_in": 3600})

    async def users(self, request: web.Request) -> web.Response:
        self.requests.append((time.time(), request.headers["Authorization"]))
        status, headers = self.plan.pop(0) if self.plan else (200, {})
        body = {"data": [{"id": "1", "login": "dorian", "display_name": "Dorian"}]}
        return web.json_response(
            body if status == 200 else {"message": "no"}, status=status, headers=headers
        )


@pytest.fixture
async def helix() -> AsyncIterator[tuple[Helix, str]]:
    fake = Helix()
    app = web.Application()
    app.add_routes([web.post("/id/oauth2/token", fake.token), web.get("/helix/users", fake.users)])
    async with serving_aiohttp(app) as url:
        yield fake, url


@pytest.fixture
async def client(
    helix: tuple[Helix, str], redis: aioredis.Redis, keyspace: Keyspace
) -> AsyncIterator[TwitchClient]:
    _, url = helix
    access = PlatformAccess(
        Platform.TWITCH,
        f"{url}/helix",
        f"{url}/id",
        "client",
        SANDBOX_CLIENT_SECRET,
        SANDBOX_CLIENT_SECRET,
        60,
        sandbox=True,
    )
    async with aiohttp.ClientSession() as session:
        yield TwitchClient(access, session, redis, keyspace)


async def test_the_token_is_cached_and_renewed_after_a_401(
    client: TwitchClient, helix: tuple[Helix, str], redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    fake, _ = helix
    assert await client.lookup("dorian") is not None
    assert await client.lookup("dorian") is not None
    assert fake.tokens == 1
    assert 3600 - 360 - 5 <= await redis.ttl(keyspace.key("streams_token", "twitch")) <= 3600 - 360
    fake.plan = [(401, {})]
    assert await client.lookup("dorian") is not None
    assert fake.tokens == 2
    assert [auth for _, auth in fake.requests[-2:]] == ["Bearer t1", "Bearer t2"]


async def test_a_429_waits_for_the_reset_and_an_empty_bucket_is_honoured(
    client: TwitchClient, helix: tuple[Helix, str]
) -> None:
    fake, _ = helix
    reset = str(int(time.time()) + 1)
    fake.plan = [(429, {"Ratelimit-Remaining": "0", "Ratelimit-Reset": reset})]
    started = time.time()
    assert await client.lookup("dorian") is not None
    assert fake.requests[-1][0] >= int(reset) - 0.05  # the retry came after the reset
    assert time.time() - started < base.MAX_RATE_WAIT

    reset = str(int(time.time()) + 1)
    fake.plan = [(200, {"Ratelimit-Remaining": "0", "Ratelimit-Reset": reset})]
    assert await client.lookup("dorian") is not None  # answered, but the bucket is empty
    assert await client.lookup("dorian") is not None
    assert fake.requests[-1][0] >= int(reset) - 0.05  # the next one waited for the reset


async def test_the_bucket_is_shared_between_processes_through_redis(
    redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    """What one process learned from an answer is what every process takes points from: two
    left, two requests go (in any process), the third waits for the reset; out-of-order
    answers do not raise the count, an earlier window is ignored, a later one replaces."""
    now = time.time()
    reset = int(now) + 60
    answer = {"Ratelimit-Remaining": "2", "Ratelimit-Reset": str(reset), "Ratelimit-Limit": "800"}
    assert await ratelimit.record(redis, keyspace, "twitch", answer, now)
    assert await ratelimit.take(redis, keyspace, "twitch", now) == 0
    assert await ratelimit.take(redis, keyspace, "twitch", now) == 0
    assert await ratelimit.take(redis, keyspace, "twitch", now) == pytest.approx(
        reset - now, abs=1e-3
    )
    assert await ratelimit.take(redis, keyspace, "kick", now) == 0  # per platform
    # A slower answer of the same window saying more were left changes nothing.
    assert not await ratelimit.record(redis, keyspace, "twitch", answer, now)
    assert await ratelimit.take(redis, keyspace, "twitch", now) > 0
    older = {"Ratelimit-Remaining": "700", "Ratelimit-Reset": str(reset - 30)}
    assert not await ratelimit.record(redis, keyspace, "twitch", older, now)
    later = {"Ratelimit-Remaining": "1", "Ratelimit-Reset": str(reset + 1)}
    assert await ratelimit.record(redis, keyspace, "twitch", later, now)
    assert await ratelimit.take(redis, keyspace, "twitch", now) == 0
    assert await ratelimit.take(redis, keyspace, "twitch", reset + 1) == 0  # past the reset
    # The window's key goes at its reset.
    key = keyspace.key("streams_rate", "twitch")
    assert 0 < await redis.pttl(key) <= (reset + 1 - now) * 1000
    # Answers without the headers (or with a reset already past) change nothing.
    assert not await ratelimit.record(redis, keyspace, "youtube", {}, now)
    past = {"Ratelimit-Remaining": "0", "Ratelimit-Reset": str(int(now) - 1)}
    assert not await ratelimit.record(redis, keyspace, "youtube", past, now)
    assert not await redis.exists(keyspace.key("streams_rate", "youtube"))


async def test_a_bucket_another_process_emptied_makes_the_request_wait(
    client: TwitchClient, helix: tuple[Helix, str], redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    """Another worker's answer said no point is left until the reset (this process has seen
    nothing): the request waits for the reset rather than spend a 429. This process's answers
    are written for the others."""
    fake, _ = helix
    reset = int(time.time()) + 1
    empty = {"Ratelimit-Remaining": "0", "Ratelimit-Reset": str(reset)}
    assert await ratelimit.record(redis, keyspace, "twitch", empty)
    assert await client.lookup("dorian") is not None
    assert fake.requests[-1][0] >= reset - 0.05  # sent once the bucket had reset

    later = int(time.time()) + 30
    fake.plan = [(200, {"Ratelimit-Remaining": "799", "Ratelimit-Reset": str(later)})]
    assert await client.lookup("dorian") is not None
    bucket = await redis.hgetall(keyspace.key("streams_rate", "twitch"))
    assert bucket == {b"remaining": b"799", b"reset": str(later * 1000).encode()}
