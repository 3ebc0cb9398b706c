"""What every answer of the HTTP service has: health, metrics, OpenAPI, headers, request ids.

Metrics are read here as their listener serves them (`metrics_app`); that the public app does
not serve them and `run_http` does, on its own port, is checked with hypercorn below."""

from __future__ import annotations

import gc
import io
import json
import logging
import re
import typing
import warnings

import pytest
import structlog

from tests.support.web import error_code
from townsquare.core.logs import configure_logging
from townsquare.http import create_app
from townsquare.http.metrics import metrics_app
from townsquare.http.state import state_of

if typing.TYPE_CHECKING:
    from pathlib import Path

    from quart import Quart
    from quart.testing import QuartClient

    from townsquare.core.discord import DiscordTarget
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings


async def test_healthz_and_readyz(client: QuartClient) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, await response.get_json()) == (200, {"status": "ok"})
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["checks"] == {"postgresql": "ok", "redis": "ok"}


async def test_readyz_names_what_is_unreachable(
    settings: Settings,
    database_url: str,
    keyspace: Keyspace,
    discord_target: DiscordTarget,
    orm: None,
) -> None:
    app = create_app(
        settings, "redis://127.0.0.1:1/0", database_url, keyspace, discord=discord_target
    )
    async with app.test_app():
        response = await app.test_client().get("/readyz")
    assert response.status_code == 503
    body = await response.get_json()
    assert body["failing"] == ["redis"]
    assert body["checks"]["postgresql"] == "ok"


async def _scrape(app: Quart) -> str:
    """GET /metrics from the app's metrics listener (its ASGI app, called directly)."""
    sent: list[dict[str, typing.Any]] = []

    async def receive() -> dict[str, typing.Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: typing.Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/metrics", "headers": []}
    await metrics_app(state_of(app).metrics)(typing.cast("typing.Any", scope), receive, send)
    start, body = sent
    assert start["status"] == 200
    assert dict(start["headers"])[b"content-type"].startswith(b"text/plain")
    return bytes(body["body"]).decode()


async def test_the_public_app_does_not_serve_metrics(client: QuartClient) -> None:
    """They list every route, /internal/v1 included, with its request counts (issue 10, 7)."""
    await client.get("/healthz")
    for method in ("GET", "HEAD", "POST"):
        response = await client.open("/metrics", method=method)
        assert response.status_code in {404, 405}, (method, response.status_code)
        assert b"townsquare_http" not in await response.get_data()


async def test_metrics_count_requests(app: Quart, client: QuartClient) -> None:
    await client.get("/healthz")
    text = await _scrape(app)
    assert re.search(
        r'townsquare_http_requests_total\{method="GET",route="/healthz",status="200"\} 1\.0', text
    ), text


async def test_metrics_keep_client_chosen_methods_to_one_label(
    app: Quart, client: QuartClient
) -> None:
    for method in ("BREW", "WHEN", "BREW"):
        await client.open("/healthz", method=method)
    text = await _scrape(app)
    assert re.search(
        r'townsquare_http_requests_total\{method="other",route="unmatched",status="405"\} 3\.0',
        text,
    ), text
    assert "BREW" not in text


async def test_openapi_describes_the_api_and_the_docs_page_loads_nothing_external(
    client: QuartClient,
) -> None:
    spec = await (await client.get("/openapi.json")).get_json()
    assert "/api/v1/guilds/{guild_id}/config" in spec["paths"]
    put = spec["paths"]["/api/v1/guilds/{guild_id}/config"]["put"]
    assert "requestBody" in put
    assert "/healthz" not in spec["paths"]
    page = await client.get("/api/docs")
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    assert "/api/v1/guilds/{guild_id}/config" in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "the docs page loads from elsewhere"
    # Swagger UI, from the vendored package, served here; the plain table without JavaScript.
    assets = re.findall(r'(?:src|href)="(/api/docs/assets/[^"]+)"', html)
    assert sorted(assets) == [
        "/api/docs/assets/swagger-ui-bundle.js",
        "/api/docs/assets/swagger-ui.css",
    ]
    for asset in assets:
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert len(await served.get_data()) > 10_000
    assert (await client.get("/api/docs/assets/index.html")).status_code == 404
    assert "<noscript>" in html and 'id="api-routes"' in html
    for builtin in ("/docs", "/redocs", "/scalar"):
        assert (await client.get(builtin)).status_code == 404


async def test_security_headers_and_no_cors(client: QuartClient) -> None:
    for path in ("/", "/healthz", "/api/docs", "/api/v1/me"):
        response = await client.get(path, headers={"Origin": "https://evil.example"})
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp
        assert "default-src 'none'" in csp
        assert "http" not in csp  # no external source anywhere
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["X-Frame-Options"] == "DENY"
        assert not [
            name for name, _ in headers.items() if name.lower().startswith("access-control-")
        ]
    preflight = await client.options(
        "/api/v1/me",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"},
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


async def test_index_page_renders_a_login_link(client: QuartClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    html = await response.get_data(as_text=True)
    assert 'href="/auth/login"' in html
    assert 'href="/static/dashboard.css"' in html
    assert (await client.get("/static/dashboard.css")).status_code == 200


async def test_unknown_routes_and_methods_are_json_errors(client: QuartClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert await error_code(response) == "not_found"
    response = await client.delete("/healthz")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]


async def test_request_id_is_returned_and_on_every_log_line(
    app: Quart, client: QuartClient
) -> None:
    # The service's own logging, into a string: a new configuration reaches every logger,
    # also those that earlier tests already used (townsquare.core.logs).
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging(level="info", fmt="json", stream=stream)
    try:
        response = await client.get("/readyz", headers={"X-Request-ID": "trace-abc-123"})
        assert response.headers["X-Request-ID"] == "trace-abc-123"
        generated = await client.get("/healthz", headers={"X-Request-ID": "bad id <script>"})
        assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-ID"])
    finally:
        structlog.reset_defaults()
        root.handlers[:], root.level = handlers, level
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    lines = [entry for entry in entries if entry["event"] == "request"]
    assert {entry["request_id"] for entry in lines} == {
        "trace-abc-123",
        generated.headers["X-Request-ID"],
    }
    assert all("request_id" in entry for entry in entries), json.dumps(entries)


async def test_run_http_serves_the_app_and_metrics_on_their_own_loopback_port(
    tmp_path: Path, keyspace: Keyspace, redis_url: str, database_url: str
) -> None:
    """`townsquare http` (run_http): the app on `http.port`, metrics on `http.metrics_port`
    only; a streamed body over the limit is a 413 there too."""
    import asyncio

    import aiohttp

    from tests.support.web import make_settings
    from townsquare.core.commands_api import service_token
    from townsquare.core.processes import free_port
    from townsquare.http import run_http

    port, metrics_port = free_port(), free_port()
    settings = make_settings(
        tmp_path,
        keyspace,
        TOWNSQUARE__HTTP__PORT=str(port),
        TOWNSQUARE__HTTP__METRICS_PORT=str(metrics_port),
    )
    assert settings.http.metrics_host == "127.0.0.1"  # the default: loopback only
    shutdown = asyncio.Event()
    server = asyncio.create_task(
        run_http(settings, redis_url, database_url, keyspace, shutdown=shutdown)
    )
    app_url, metrics_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"{app_url}/readyz") as response:
                        assert response.status == 200, await response.text()
                        assert response.headers["X-Request-ID"]
                        assert "server" not in {name.lower() for name in response.headers}
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("hypercorn did not start")

            async with http.get(f"{app_url}/metrics") as response:
                assert response.status == 404
            async with http.get(f"{metrics_url}/metrics") as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
                text = await response.text()
            assert re.search(
                r'townsquare_http_requests_total\{method="GET",route="/readyz",status="200"\} 1\.0',
                text,
            ), text
            assert 'route="unmatched",status="404"' in text  # the public /metrics above
            async with http.get(f"{metrics_url}/readyz") as response:
                assert response.status == 404  # the listener serves metrics and nothing else

            async def chunks() -> typing.AsyncIterator[bytes]:
                for _ in range(settings.http.max_body_bytes // 65536 + 2):
                    yield b"x" * 65536

            async with http.post(
                f"{app_url}/internal/v1/guilds/1/members/1/xp/add",
                data=chunks(),
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {service_token(settings)}",
                },
            ) as response:
                assert "Content-Length" not in response.request_info.headers
                assert response.status == 413, await response.text()
                assert (await response.json())["error"]["code"] == "request_entity_too_large"
    finally:
        shutdown.set()
        await asyncio.wait_for(server, 10)


async def test_run_http_stops_when_the_metrics_port_is_taken(
    tmp_path: Path, keyspace: Keyspace, redis_url: str, database_url: str, json_log: io.StringIO
) -> None:
    """Either listener failing to bind stops the service, saying which address."""
    import asyncio
    import socket

    from tests.support.web import make_settings
    from townsquare.core.processes import free_port
    from townsquare.http import run_http

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        metrics_port = taken.getsockname()[1]
        settings = make_settings(
            tmp_path,
            keyspace,
            TOWNSQUARE__HTTP__PORT=str(free_port()),
            TOWNSQUARE__HTTP__METRICS_PORT=str(metrics_port),
        )
        with pytest.raises(ExceptionGroup) as failed:
            await asyncio.wait_for(
                run_http(settings, redis_url, database_url, keyspace, shutdown=asyncio.Event()),
                30,
            )
    assert failed.group_contains(OSError)
    # hypercorn leaves the socket it could not bind unclosed (it dies with the process); it is
    # collected here, its ResourceWarning ignored, not in whichever test runs next.
    del failed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert [line["bind"] for line in lines if line["event"] == "http_listen_failed"] == [
        f"127.0.0.1:{metrics_port}"
    ]


async def test_an_unexpected_error_is_a_bare_500_with_the_request_id(
    unstarted_app: Quart,
) -> None:
    app = unstarted_app

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("database password is hunter2")

    async with app.test_app():
        response = await app.test_client().get("/boom")
    assert response.status_code == 500
    body = await response.get_data(as_text=True)
    assert "hunter2" not in body
    assert json.loads(body)["error"]["code"] == "internal_error"
    assert response.headers["X-Request-ID"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
