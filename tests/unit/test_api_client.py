"""The shards' internal API client against a loopback aiohttp server: retries, the breaker."""

from __future__ import annotations

import asyncio
import socket
import time
import typing

import pytest
from aiohttp import web

from townsquare.features.xp.commands.api import XPClient
from townsquare.shards.api_client import (
    APIRefusedError,
    BreakerState,
    CircuitBreaker,
    InternalAPIClient,
    ServiceUnavailableError,
)

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

TOKEN = "unit-test-service-token"
CONFIG_PATH = "/internal/v1/guilds/1/config"
CONFIG = {"guild_id": 1, "version": 3, "config": {}}


class Upstream:
    """A loopback stand-in for the HTTP service: fails `failures` times, then answers."""

    def __init__(self) -> None:
        self.failures = 0
        self.status = 503
        self.code = "down"
        self.calls = 0
        self.authorizations: list[str] = []
        self.keys: list[str | None] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        self.authorizations.append(request.headers.get("Authorization", ""))
        self.keys.append(request.headers.get("Idempotency-Key"))
        if self.failures > 0:
            self.failures -= 1
            return web.json_response({"error": {"code": self.code}}, status=self.status)
        return web.json_response(CONFIG)


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    service = Upstream()
    app = web.Application()
    app.router.add_get(CONFIG_PATH, service.handle)
    app.router.add_post(CONFIG_PATH, service.handle)
    app.router.add_get("/internal/v1/guilds/1/leaderboard", _page_out_of_range)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield service, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _page_out_of_range(_: web.Request) -> web.Response:
    body = {"error": {"code": "page_out_of_range", "message": "no"}, "pages": 2}
    return web.json_response(body, status=404)


def client(base_url: str, *, failures: int = 3, reset_seconds: float = 30.0) -> InternalAPIClient:
    return InternalAPIClient(
        base_url,
        TOKEN,
        timeout_seconds=1.0,
        attempts=3,
        retry_max_seconds=2.0,
        backoff_seconds=0.01,
        breaker=CircuitBreaker(failures=failures, reset_seconds=reset_seconds),
    )


async def test_5xx_answers_are_retried_until_one_succeeds(
    upstream: tuple[Upstream, str],
) -> None:
    service, url = upstream
    service.failures = 2
    shown = await client(url).config(1)
    assert shown.version == 3
    assert service.calls == 3
    assert set(service.authorizations) == {f"Bearer {TOKEN}"}


@pytest.mark.parametrize(("status", "code"), [(503, "down"), (409, "idempotency_key_in_use")])
async def test_a_write_sends_one_idempotency_key_on_every_attempt(
    upstream: tuple[Upstream, str], status: int, code: str
) -> None:
    """A 409 `idempotency_key_in_use` (the first attempt still running) is retried too."""
    service, url = upstream
    service.failures, service.status, service.code = 2, status, code
    api = client(url)
    assert await api.request("POST", "/guilds/1/config", json={}) == CONFIG
    assert await api.request("POST", "/guilds/1/config", json={}, idempotency_key='a"b') == CONFIG
    await api.config(1)
    first, given, read = service.keys[:3], service.keys[3], service.keys[4]
    assert len(set(first)) == 1
    assert first[0] is not None
    assert first[0].startswith('"')
    assert given == '"a\\"b"'  # an RFC 8941 string, escaped
    assert read is None  # a GET has nothing to repeat


async def test_retries_are_bounded_then_the_service_is_unavailable(
    upstream: tuple[Upstream, str],
) -> None:
    service, url = upstream
    service.failures = 100
    api = client(url)
    with pytest.raises(ServiceUnavailableError):
        await api.config(1)
    assert service.calls == 3
    assert api.breaker.state is BreakerState.CLOSED  # one failed call, not yet five


async def test_4xx_is_a_refusal_and_never_retried(upstream: tuple[Upstream, str]) -> None:
    _, url = upstream
    api = client(url, failures=1)
    with pytest.raises(APIRefusedError) as refused:
        await XPClient(api).leaderboard(1, 9)
    assert (refused.value.status, refused.value.code, refused.value.body["pages"]) == (
        404,
        "page_out_of_range",
        2,
    )
    assert api.breaker.state is BreakerState.CLOSED
    with pytest.raises(APIRefusedError) as unknown:  # aiohttp's own text 404: not JSON
        await XPClient(api).member_rank(1, 2)
    assert (unknown.value.status, unknown.value.code) == (404, "error")
    assert api.breaker.state is BreakerState.CLOSED


async def test_connection_errors_are_retried_and_count_for_the_breaker() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = client(f"http://127.0.0.1:{port}", failures=1)
    with pytest.raises(ServiceUnavailableError):
        await api.config(1)
    assert api.breaker.state is BreakerState.OPEN


@pytest.mark.parametrize(
    ("status", "code", "alerted"),
    [(503, "down", True), (500, "error", True), (503, "service_unavailable", False)],
)
async def test_a_call_failed_for_good_is_reported_unless_the_service_s_backend_is_down(
    upstream: tuple[Upstream, str], status: int, code: str, *, alerted: bool
) -> None:
    """The shards alert `internal_api_unavailable` through `on_unavailable`. A 503
    `service_unavailable` is the service reached, its Redis or PostgreSQL down (alerted as
    such): counting it made a PostgreSQL outage raise "the internal API could not be reached"
    in the chaos run, and its one-a-minute claim then hid the real internal API outage."""
    service, url = upstream
    service.failures, service.status, service.code = 100, status, code
    api = client(url)
    reported: list[None] = []
    api.on_unavailable = lambda: reported.append(None)
    with pytest.raises(ServiceUnavailableError):
        await api.config(1)
    assert service.calls == 3, "retried either way"
    assert bool(reported) is alerted


async def test_connection_errors_are_reported_unavailable() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = client(f"http://127.0.0.1:{port}")
    reported: list[None] = []
    api.on_unavailable = lambda: reported.append(None)
    with pytest.raises(ServiceUnavailableError):
        await api.config(1)
    assert reported == [None]


async def test_the_breaker_opens_fails_fast_then_half_opens_and_closes(
    upstream: tuple[Upstream, str],
) -> None:
    service, url = upstream
    service.failures = 1_000
    api = client(url, failures=2, reset_seconds=0.3)
    for _ in range(2):
        with pytest.raises(ServiceUnavailableError):
            await api.config(1)
    assert api.breaker.state is BreakerState.OPEN
    calls = service.calls
    started = time.monotonic()
    with pytest.raises(ServiceUnavailableError):
        await api.config(1)
    assert service.calls == calls  # failed fast: the service was not asked
    assert time.monotonic() - started < 0.05

    await asyncio.sleep(0.35)
    assert api.breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(ServiceUnavailableError):
        await api.config(1)  # the trial call fails: open again
    assert api.breaker.state is BreakerState.OPEN
    assert service.calls > calls

    service.failures = 0
    await asyncio.sleep(0.35)
    assert (await api.config(1)).version == 3  # the trial succeeds: closed
    assert api.breaker.state is BreakerState.CLOSED


def test_the_client_never_shows_its_token() -> None:
    api = client("http://127.0.0.1:1")
    assert TOKEN not in repr(api)
    assert TOKEN not in str(vars(api).get("base_url"))
