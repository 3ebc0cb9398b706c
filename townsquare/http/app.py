"""The Quart app and its server (hypercorn).

:func:`create_app` wires the blueprints (health, auth, dashboard, `/api/v1`, API docs), one
error type (:class:`~townsquare.http.errors.APIError`) rendered as JSON, and what every answer
gets: a request id bound to every log line of the request and returned as `X-Request-ID`, a
body-size limit (`http.max_body_bytes`, 413 beyond), security headers, and no CORS headers at
all (browsers refuse cross-origin reads). :func:`run_http` serves it until `shutdown` is set.
"""

from __future__ import annotations

import re
import time
import typing
import uuid

import aiohttp
import redis.asyncio as aioredis
import structlog
from quart import Quart, Response, g, redirect, render_template, request
from quart_schema import QuartSchema, hide
from werkzeug.exceptions import RequestEntityTooLarge

from townsquare.http import (
    api_docs,
    api_guilds,
    api_keys,
    auth,
    dashboard,
    health,
    internal_api,
    public_api,
)
from townsquare.http.access import optional_session
from townsquare.http.errors import register_error_handlers
from townsquare.http.metrics import Metrics
from townsquare.http.sessions import SessionSigner
from townsquare.http.state import EXTENSION, HTTPState, state

if typing.TYPE_CHECKING:
    import asyncio

    from werkzeug.wrappers.response import Response as BaseResponse

    from townsquare.core.discord import DiscordTarget
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings

__all__ = ["CONTENT_SECURITY_POLICY", "create_app", "run_http"]

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER: typing.Final = "X-Request-ID"
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
CONTENT_SECURITY_POLICY: typing.Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_NO_STORE_PREFIXES: typing.Final = ("/auth", "/dashboard", "/api")


def create_app(
    settings: Settings,
    redis_url: str,
    database_url: str,
    keyspace: Keyspace,
    *,
    discord: DiscordTarget | None,
) -> Quart:
    """The HTTP service. The caller connects the ORM (see :func:`run_http`).

    `discord` is where dashboard logins go; None resolves it at each login (against the
    sandbox, from `<var_dir>/sandbox.json`, so the service may start before the sandbox).
    """
    app = Quart(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.http.max_body_bytes,
        MAX_FORM_MEMORY_SIZE=settings.http.max_body_bytes,
        PROPAGATE_EXCEPTIONS=False,
        QUART_SCHEMA_SWAGGER_JS_URL="",
        QUART_SCHEMA_SWAGGER_CSS_URL="",
        QUART_SCHEMA_REDOC_JS_URL="",
        QUART_SCHEMA_SCALAR_JS_URL="",
    )
    app.extensions[EXTENSION] = HTTPState(
        settings=settings,
        keyspace=keyspace,
        redis_url=redis_url,
        database_url=database_url,
        discord=discord,
        signer=SessionSigner.from_settings(settings),
        metrics=Metrics.create(),
    )
    QuartSchema(
        app,
        openapi_path="/openapi.json",
        redoc_ui_path=None,
        scalar_ui_path=None,
        swagger_ui_path=None,
        info={"title": "Townsquare API", "version": "1"},
        security_schemes=public_api.SECURITY_SCHEMES,
    )
    register_error_handlers(app)
    for module in (health, auth, dashboard, api_guilds, api_docs, api_keys, public_api):
        app.register_blueprint(module.blueprint)
    app.register_blueprint(internal_api.blueprint)  # the shards' commands (flow 2)
    _add_request_hooks(app)
    _add_lifecycle(app)

    @app.get("/")
    @hide
    async def index() -> BaseResponse | str:
        if await optional_session(renew=True) is not None:
            return redirect("/dashboard")
        return await render_template("index.html", user=None)

    return app


def _add_lifecycle(app: Quart) -> None:
    @app.before_serving
    async def _open() -> None:
        app_state = state()
        app_state.redis = aioredis.Redis.from_url(app_state.redis_url)
        app_state.client = aiohttp.ClientSession()

    @app.after_serving
    async def _close() -> None:
        app_state = state()
        if app_state.client is not None:
            await app_state.client.close()
            app_state.client = None
        if app_state.redis is not None:
            await app_state.redis.aclose()
            app_state.redis = None


def _add_request_hooks(app: Quart) -> None:
    @app.before_request
    async def _start() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _CLIENT_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.ts_request_id = request_id
        g.ts_started = time.perf_counter()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        length = request.content_length
        if length is not None and length > state().settings.http.max_body_bytes:
            raise RequestEntityTooLarge()

    @app.after_request
    async def _finish(response: Response) -> Response:
        renewed = g.get("ts_renewed_access")
        if renewed:
            state().signer.set_cookie(response, "access", renewed)
        _security_headers(response)
        response.headers[REQUEST_ID_HEADER] = g.get("ts_request_id", "")
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        elapsed = time.perf_counter() - g.get("ts_started", time.perf_counter())
        metrics = state().metrics
        metrics.requests.labels(route, request.method, str(response.status_code)).inc()
        metrics.latency.labels(route).observe(elapsed)
        log.info(
            "request",
            method=request.method,
            route=route,
            status=response.status_code,
            ms=round(elapsed * 1000, 1),
        )
        return response

    @app.teardown_request
    async def _unbind(_error: BaseException | None) -> None:
        structlog.contextvars.unbind_contextvars("request_id")


def _security_headers(response: Response) -> None:
    headers = response.headers
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    if state().signer.secure_cookies:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    if request.path.startswith(_NO_STORE_PREFIXES):
        headers["Cache-Control"] = "no-store"
    # CORS stays closed: no Access-Control-Allow-* header is ever sent.
    for name in [name for name, _ in headers.items() if name.lower().startswith("access-control-")]:
        del headers[name]


async def run_http(
    settings: Settings,
    redis_url: str,
    database_url: str,
    keyspace: Keyspace,
    *,
    shutdown: asyncio.Event,
) -> None:
    """Serve the app with hypercorn on `http.host`:`http.port` until `shutdown` is set."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from townsquare.core.db import connect

    config = Config()
    address = f"{settings.http.host}:{settings.http.port}"  # keyspace: not a key
    config.bind = [address]
    config.accesslog = None  # every request is logged once, with its request id, by the app
    config.graceful_timeout = 5.0
    config.include_server_header = False
    app = create_app(settings, redis_url, database_url, keyspace, discord=None)
    # The ORM's context must be set in this task: hypercorn's request tasks inherit it.
    async with connect(database_url, pool_max=settings.database.pool_max):
        log.info("http_serving", bind=config.bind[0])
        await serve(app, config, shutdown_trigger=shutdown.wait)
