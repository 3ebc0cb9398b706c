"""`Idempotency-Key` on the internal API's writes, with `/giveaway start`'s route: a repeated
request is answered again and creates nothing more; the shards' real client, whose first answer
is lost on the way back, retries and creates one giveaway. Against the test run's PostgreSQL, a
fresh Redis namespace and the sandbox, through the app's test client."""

from __future__ import annotations

import json
import typing

import pytest
from aiohttp import web

from tests.support.web import error_code, service_bearer
from tests.support.world import channel_named, user_named
from townsquare.core.commands_api import service_token
from townsquare.features.giveaways.commands.api import GiveawaysClient
from townsquare.features.giveaways.domain.models import Giveaway
from townsquare.features.giveaways.domain.service import GiveawaySpec
from townsquare.shards.api_client import CircuitBreaker, InternalAPIClient

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import redis.asyncio as aioredis
    from quart.testing import QuartClient

    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings
    from townsquare.sandbox import Sandbox


@pytest.fixture
def spec(sandbox: Sandbox, bot_in_demo: int) -> dict[str, typing.Any]:
    return {
        "prize": "Sticker",
        "duration_seconds": 600,
        "winners": 1,
        "channel_id": channel_named(sandbox.world.guilds[bot_in_demo], "general"),
        "host_id": user_named(sandbox, "mayor"),
    }


def _keyed(settings: Settings, key: str) -> dict[str, str]:
    return service_bearer(settings) | {"Idempotency-Key": key}


async def test_one_key_creates_one_giveaway_and_every_answer_is_the_first(
    client: QuartClient, settings: Settings, bot_in_demo: int, spec: dict[str, typing.Any]
) -> None:
    url = f"/internal/v1/guilds/{bot_in_demo}/giveaways"
    answers = [
        await client.post(url, json=spec, headers=_keyed(settings, '"start-1"')) for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [201, 201]
    first, again = [await a.get_data(as_text=True) for a in answers]
    assert again == first
    assert answers[1].content_type == answers[0].content_type
    assert await Giveaway.filter(guild_id=bot_in_demo).count() == 1
    # The key reused for another request, here or on another route: refused, nothing done.
    other = await client.post(
        url, json=spec | {"prize": "Mug"}, headers=_keyed(settings, '"start-1"')
    )
    assert other.status_code == 422
    assert await error_code(other) == "idempotency_key_reused"
    shown = json.loads(first)
    elsewhere = await client.post(
        f"{url}/{shown['id']}/cancel", headers=_keyed(settings, '"start-1"')
    )
    assert elsewhere.status_code == 422
    assert await Giveaway.filter(guild_id=bot_in_demo).count() == 1
    # Another key is another call.
    second = await client.post(url, json=spec, headers=_keyed(settings, '"start-2"'))
    assert second.status_code == 201
    assert await Giveaway.filter(guild_id=bot_in_demo).count() == 2


@pytest.mark.parametrize("key", ["start-3", '""', '"' + "x" * 256 + '"', '"a"b"', '"\u00e9"'])
async def test_a_malformed_key_is_refused_before_anything_is_done(
    client: QuartClient, settings: Settings, bot_in_demo: int, spec: dict[str, typing.Any], key: str
) -> None:
    url = f"/internal/v1/guilds/{bot_in_demo}/giveaways"
    answer = await client.post(url, json=spec, headers=_keyed(settings, key))
    assert answer.status_code == 400
    assert await error_code(answer) == "invalid_idempotency_key"
    assert await Giveaway.filter(guild_id=bot_in_demo).count() == 0


async def test_a_key_whose_first_request_has_not_answered_is_in_use(
    client: QuartClient,
    settings: Settings,
    bot_in_demo: int,
    spec: dict[str, typing.Any],
    redis: aioredis.Redis,
    keyspace: Keyspace,
) -> None:
    """What a retry finds while the first request still runs (or was killed running): 409,
    never a second run."""
    url = f"/internal/v1/guilds/{bot_in_demo}/giveaways"
    done = await client.post(url, json=spec, headers=_keyed(settings, '"start-4"'))
    assert done.status_code == 201
    key = keyspace.key("idempotency_key", "start-4")
    stored = json.loads(await redis.get(key))
    await redis.set(key, json.dumps({"fingerprint": stored["fingerprint"]}))  # only claimed
    again = await client.post(url, json=spec, headers=_keyed(settings, '"start-4"'))
    assert again.status_code == 409
    assert await error_code(again) == "idempotency_key_in_use"
    assert await Giveaway.filter(guild_id=bot_in_demo).count() == 1


class LosingProxy:
    """A loopback HTTP server in front of the app: passes each request on, and drops the
    connection instead of the first answer (the write is done, its answer lost)."""

    def __init__(self, app_client: QuartClient) -> None:
        self.app_client = app_client
        self.keys: list[str | None] = []
        self.lose = 1

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.keys.append(request.headers.get("Idempotency-Key"))
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() in {"authorization", "content-type", "idempotency-key"}
        }
        answer = await self.app_client.open(
            request.path,
            method=request.method,
            headers=headers,
            data=await request.read(),
            query_string=request.query_string or None,
        )
        if self.lose > 0:
            self.lose -= 1
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=204)  # written to a closed connection: never read
        return web.Response(
            body=await answer.get_data(), status=answer.status_code, content_type="application/json"
        )


@pytest.fixture
async def proxy(client: QuartClient) -> AsyncIterator[tuple[LosingProxy, str]]:
    losing = LosingProxy(client)
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", losing.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield losing, f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_the_shards_client_retries_a_lost_answer_and_one_giveaway_is_created(
    proxy: tuple[LosingProxy, str],
    settings: Settings,
    bot_in_demo: int,
    spec: dict[str, typing.Any],
) -> None:
    losing, base_url = proxy
    api = InternalAPIClient(
        base_url,
        service_token(settings),
        attempts=3,
        backoff_seconds=0.01,
        breaker=CircuitBreaker(failures=5, reset_seconds=30.0),
    )
    shown = await GiveawaysClient(api).start(
        bot_in_demo, GiveawaySpec.model_validate(spec), idempotency_key="giveaway-start/123"
    )
    assert losing.lose == 0  # the first answer was lost
    assert losing.keys == ['"giveaway-start/123"'] * 2
    assert [g.id for g in await Giveaway.filter(guild_id=bot_in_demo)] == [shown.id]
    # And with the client's own key for a call (any write): one request, one effect.
    losing.lose = 1
    shown = await GiveawaysClient(api).start(bot_in_demo, GiveawaySpec.model_validate(spec))
    assert len(set(losing.keys[2:])) == 1
    assert await Giveaway.filter(guild_id=bot_in_demo).count() == 2
