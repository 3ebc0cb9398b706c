"""What every answer of the HTTP service has: health, metrics, OpenAPI, headers, request ids."""

from __future__ import annotations

import io
import json
import logging
import re
import typing

import structlog

from tests.support.web import error_code
from townsquare.core.logs import configure_logging
from townsquare.http import create_app

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


async def test_metrics_count_requests(client: QuartClient) -> None:
    await client.get("/healthz")
    response = await client.get("/metrics")
    assert response.status_code == 200
    text = await response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain")
    assert re.search(
        r'townsquare_http_requests_total\{method="GET",route="/healthz",status="200"\} 1\.0', text
    ), text


async def test_metrics_keep_client_chosen_methods_to_one_label(client: QuartClient) -> None:
    for method in ("BREW", "WHEN", "BREW"):
        await client.open("/healthz", method=method)
    text = await (await client.get("/metrics")).get_data(as_text=True)
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


async def test_run_http_serves_with_hypercorn_until_shutdown(
    tmp_path: Path, keyspace: Keyspace, redis_url: str, database_url: str
) -> None:
    import asyncio
    import socket

    import aiohttp

    from tests.support.web import make_settings
    from townsquare.http import run_http

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = make_settings(tmp_path, keyspace, TOWNSQUARE__HTTP__PORT=str(port))
    shutdown = asyncio.Event()
    server = asyncio.create_task(
        run_http(settings, redis_url, database_url, keyspace, shutdown=shutdown)
    )
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                        assert response.status == 200, await response.text()
                        assert response.headers["X-Request-ID"]
                        assert "server" not in {name.lower() for name in response.headers}
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("hypercorn did not start")
    finally:
        shutdown.set()
        await asyncio.wait_for(server, 10)


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
