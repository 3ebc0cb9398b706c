"""What `TownsquareQuart` gives every answer, errors included: headers, request id, log, metrics."""

from __future__ import annotations

import io
import json
import re
import typing

import pytest
import structlog
from quart import Response

from tests.support.web import error_code
from townsquare.http.state import state_of

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from quart import Quart
    from quart.testing import QuartClient

    from townsquare.core.settings import Settings


@pytest.fixture
async def envelope_app(unstarted_app: Quart) -> AsyncIterator[Quart]:
    app = unstarted_app

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("boom")

    @app.get("/api/cors-attempt")
    async def cors_attempt() -> Response:
        response = Response("{}", content_type="application/json")
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        return response

    async with app.test_app():
        yield app


def _assert_envelope(response: typing.Any) -> None:
    headers = response.headers
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Cross-Origin-Resource-Policy"] == "same-origin"
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-ID"])
    assert not [name for name, _ in headers.items() if name.lower().startswith("access-control-")]


async def test_errors_get_the_headers_and_a_request_id_too(
    envelope_app: Quart, settings: Settings
) -> None:
    client = envelope_app.test_client()
    not_found = await client.get("/nope")
    assert not_found.status_code == 404
    _assert_envelope(not_found)
    size = settings.http.max_body_bytes + 1
    too_large = await client.post(
        "/healthz", data=b"x" * size, headers={"Content-Length": str(size)}
    )
    assert too_large.status_code == 413
    assert await error_code(too_large) == "request_entity_too_large"
    _assert_envelope(too_large)
    crashed = await client.get("/boom")
    assert crashed.status_code == 500
    _assert_envelope(crashed)
    unauthorised = await client.get("/public/v1/guilds/1/leaderboard")
    assert unauthorised.status_code == 401
    assert unauthorised.headers["WWW-Authenticate"] == 'Bearer realm="townsquare"'
    _assert_envelope(unauthorised)


async def test_cors_headers_are_taken_out_and_ours_win(envelope_app: Quart) -> None:
    response = await envelope_app.test_client().get("/api/cors-attempt")
    assert response.status_code == 200
    _assert_envelope(response)  # X-Frame-Options: DENY, not the handler's SAMEORIGIN
    assert response.headers.getlist("X-Frame-Options") == ["DENY"]
    assert response.headers["Cache-Control"] == "no-store"


async def test_no_store_only_under_auth_dashboard_and_api(client: QuartClient) -> None:
    for path in ("/api/v1/me", "/auth/refresh", "/dashboard"):
        response = await client.get(path)
        assert response.headers.get("Cache-Control") == "no-store", path
    assert "Cache-Control" not in (await client.get("/healthz")).headers


async def test_one_json_access_line_and_metrics_per_request(
    envelope_app: Quart, json_log: io.StringIO
) -> None:
    client = envelope_app.test_client()
    ok = await client.get("/healthz", headers={"X-Request-ID": "trace-envelope-1"})
    missing = await client.get("/nope")
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    requests = [line for line in lines if line["event"] == "request"]
    assert [(line["route"], line["status"], line["method"]) for line in requests] == [
        ("/healthz", 200, "GET"),
        ("unmatched", 404, "GET"),
    ]
    assert [line["request_id"] for line in requests] == [
        "trace-envelope-1",
        missing.headers["X-Request-ID"],
    ]
    assert ok.headers["X-Request-ID"] == "trace-envelope-1"
    for line in requests:
        assert line["level"] == "info"
        assert line["logger"] == "townsquare.http.app"
        assert isinstance(line["ms"], float) and line["ms"] >= 0
        assert "timestamp" in line
    text = state_of(envelope_app).metrics.render().decode()  # served on their own listener
    assert 'townsquare_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'townsquare_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert 'townsquare_http_request_seconds_count{route="/healthz"} 1.0' in text


async def test_log_lines_of_a_request_carry_its_id_and_none_leak_after(
    envelope_app: Quart, json_log: io.StringIO
) -> None:
    await envelope_app.test_client().get("/boom", headers={"X-Request-ID": "trace-boom-12"})
    structlog.get_logger("after").info("outside")
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    by_event = {line["event"]: line for line in lines}
    assert by_event["unhandled_error"]["request_id"] == "trace-boom-12"
    assert by_event["unhandled_error"]["level"] == "error"
    assert "RuntimeError" in by_event["unhandled_error"]["exception"]
    assert by_event["request"]["request_id"] == "trace-boom-12"
    assert by_event["request"]["status"] == 500
    assert "request_id" not in by_event["outside"]
