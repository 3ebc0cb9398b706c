"""The Quart app and its server (hypercorn).

:func:`create_app` wires the blueprints (health, auth, dashboard, `/api/v1`, API docs, and each
enabled feature's, loaded by dotted path from its declaration), one
error type (:class:`~townsquare.http.errors.APIError`) rendered as JSON, and what every answer
gets: a request id bound to every log line of the request and returned as `X-Request-ID`, a
body-size limit (`http.max_body_bytes`, 413 beyond), security headers, and no CORS headers at
all (browsers refuse cross-origin reads). :func:`run_http` serves it until `shutdown` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import re
import time
import typing
import uuid
from pathlib import Path

import aiohttp
import structlog
from quart import Blueprint, Quart, redirect, render_template
from quart_schema import QuartSchema, hide
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from werkzeug.exceptions import RequestEntityTooLarge

from townsquare.core.discord import DiscordTargetError, resolve_discord_target
from townsquare.core.features import adapter_modules, enabled_features, feature_package
from townsquare.core.premium import Gate, PremiumCatalogue
from townsquare.core.redis_batch import CommandBatcher
from townsquare.core.redis_client import connect_redis
from townsquare.http import (
    api_docs,
    api_guilds,
    auth,
    dashboard,
    guild_alerts,
    guild_health,
    health,
    internal_api,
    layout,
    overview,
)
from townsquare.http.access import optional_session
from townsquare.http.blueprints import API_SECURITY_SCHEMES
from townsquare.http.bodies import TownsquareRequest
from townsquare.http.config_forms import GuildLink
from townsquare.http.errors import register_error_handlers
from townsquare.http.layout import layout_context
from townsquare.http.metrics import Metrics, metrics_app
from townsquare.http.openapi import IdConverter, TownsquareOpenAPI
from townsquare.http.premium import register_premium_errors
from townsquare.http.public import SECURITY_SCHEMES
from townsquare.http.sessions import SessionSigner
from townsquare.http.state import EXTENSION, HTTPState, state, state_of

if typing.TYPE_CHECKING:
    from collections.abc import Iterable

    from hypercorn.config import Config
    from hypercorn.typing import (
        ASGIReceiveCallable,
        ASGISendCallable,
        ASGISendEvent,
        Framework,
        Scope,
    )
    from quart.ctx import AppContext
    from quart.typing import ResponseReturnValue, ResponseTypes
    from quart.wrappers import Request
    from werkzeug.wrappers.response import Response as BaseResponse

    from townsquare.core.discord import DiscordTarget
    from townsquare.core.keyspace import Keyspace
    from townsquare.core.settings import Settings

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "REQUEST_ID_HEADER",
    "TownsquareQuart",
    "create_app",
    "run_http",
]

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER: typing.Final = "X-Request-ID"
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
CONTENT_SECURITY_POLICY: typing.Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
REDIS_CONNECT_TIMEOUT: typing.Final = 2.0
"""Seconds to open a connection to Redis: an unreachable host fails a request with a 503
after this, not after the system's TCP timeout (minutes)."""
REDIS_RETRIES: typing.Final = 2
"""Retries of a Redis command on a connection error (redis-py's default, 10 spread over about
three seconds, would keep a user waiting that long before the 503 when Redis is down)."""
_NO_STORE_PREFIXES: typing.Final = ("/auth", "/dashboard", "/api")
_SECURITY_HEADERS: typing.Final = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)


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
    app = TownsquareQuart(__name__)
    app.url_map.converters["id"] = IdConverter  # before any route: every id in a path
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
        security_schemes=SECURITY_SCHEMES | API_SECURITY_SCHEMES,
        openapi_provider_class=TownsquareOpenAPI,
    )
    register_error_handlers(app)
    register_premium_errors(app)
    for module in (health, auth, dashboard, layout, api_guilds, api_docs):
        app.register_blueprint(module.blueprint)
    app.register_blueprint(internal_api.blueprint)  # the shards' commands (flow 2)
    app.register_blueprint(guild_alerts.blueprint)  # a guild's open alerts (docs/alerts.md)
    app.register_blueprint(
        guild_health.blueprint
    )  # what the bot lacks there (docs/self-hosting.md)
    app.register_blueprint(overview.blueprint)  # the first page of a guild (docs/dashboard.md)
    _add_features(app)
    app.config["MAX_CONTENT_LENGTH"] = max(
        settings.http.max_body_bytes, *state_of(app).body_limits.values()
    )
    state_of(app).links.extend((guild_alerts.LINK, guild_health.LINK))
    state_of(app).links.insert(0, overview.LINK)  # first: where picking a server leads
    _add_lifecycle(app)

    @app.get("/")
    @hide
    async def index() -> BaseResponse | str:
        if await optional_session(renew=True) is not None:
            return redirect("/dashboard")
        return await render_template("index.html", user=None)

    return app


def _add_features(app: Quart) -> None:
    """Each enabled feature's `web` module: its blueprints, its dashboard pages, and its
    `templates/` folder (beside its `__init__.py`; name templates `<feature>/...`)."""
    app_state = state_of(app)
    pages, links = app_state.pages, app_state.links
    features = [feature for feature in enabled_features() if feature.web is not None]
    for feature, module in zip(features, adapter_modules("web", features), strict=True):
        folder = Path(importlib.import_module(feature_package(feature)).__file__ or "").parent
        if (folder / "templates").is_dir():
            app.register_blueprint(
                Blueprint(
                    f"{feature.name}_templates", __name__, template_folder=folder / "templates"
                )
            )
        for blueprint in module.BLUEPRINTS:
            app.register_blueprint(blueprint)
        for page in getattr(module, "PAGES", ()):
            if page.name in pages:
                msg = f"two features have a dashboard page called {page.name!r}"
                raise ValueError(msg)
            pages[page.name] = page
        links.extend(getattr(module, "GUILD_LINKS", ()))
        app_state.body_limits.update(getattr(module, "BODY_LIMITS", {}))
        gate = getattr(module, "PUBLIC_GATE", None)
        if gate is not None:
            if app_state.public_gate is not None:
                msg = "two features have a PUBLIC_GATE; the public API takes one"
                raise ValueError(msg)
            app_state.public_gate = gate
    app_state.links[:0] = [GuildLink(p.name, p.title, "dashboard.show") for p in pages.values()]

    @app.context_processor
    async def _guild_links() -> dict[str, typing.Any]:
        return {"guild_links": app_state.links} | await layout_context()


def _add_lifecycle(app: Quart) -> None:
    @app.before_serving
    async def _open() -> None:
        app_state = state()
        app_state.redis = connect_redis(
            app_state.redis_url,
            max_connections=app_state.settings.redis.max_connections,
            wait_for_connection=app_state.settings.redis.connection_wait_seconds,
            socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
            retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), REDIS_RETRIES),
        )
        app_state.batcher = CommandBatcher(app_state.redis)
        discord = app_state.discord
        if discord is None and app_state.settings.uses_sandbox:
            # For the premium button's SKU in 402 bodies: the running sandbox's, if it said.
            with contextlib.suppress(DiscordTargetError):
                discord = resolve_discord_target(app_state.settings)
        catalogue = PremiumCatalogue(
            app_state.settings.premium, sandbox_sku=discord.sku_id if discord else None
        )
        app_state.gate = Gate(app_state.redis, app_state.keyspace, catalogue)
        app_state.client = aiohttp.ClientSession()

    @app.after_serving
    async def _close() -> None:
        app_state = state()
        if app_state.client is not None:
            await app_state.client.close()
            app_state.client = None
        if app_state.batcher is not None:
            await app_state.batcher.wait_sent()
            app_state.batcher = None
        if app_state.redis is not None:
            await app_state.redis.aclose()
            app_state.redis = None
            app_state.gate = None


class TownsquareQuart(Quart):
    """Quart with what every answer of the service gets, in overrides instead of hooks.

    - :meth:`asgi_app` wraps the request from the first byte to the last: it picks the request
      id and binds it to every log line of the request, and writes the security headers,
      `Cache-Control: no-store` (under `/auth`, `/dashboard`, `/api`) and `X-Request-ID` into
      the answer's head as it is sent, taking out any `Access-Control-*` header. So every
      answer has them, errors and 500s included.
    - :meth:`handle_request` counts the answer in Prometheus and logs the one `request` line
      (method, route template, status, milliseconds).
    - :meth:`preprocess_request` refuses a body over `http.max_body_bytes` (413) from its
      `Content-Length` before any `before_request` hook runs.
    - :meth:`process_response` sets the access cookie a dashboard page renewed (it needs `g`).
    - Its requests are :class:`~townsquare.http.bodies.TownsquareRequest`: a body that is not
      UTF-8, JSON nested too deep, or a form with bad escapes is a 400, not a 500.

    App-wide `before_request` / `after_request` / `teardown_request` hooks did this work before,
    but Quart dispatches every hook with a context-local lookup and `ensure_async` per request,
    the hooks read the request through its context-local proxy each time, and werkzeug checks
    every header it sets: together about a third of the app's own time per request
    (docs/performance.md, HTTP). The head is written as bytes here, once per answer.
    """

    request_class = TownsquareRequest

    async def asgi_app(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await super().asgi_app(scope, receive, send)
            return
        request_id = _request_id(scope["headers"])
        ours = self._envelope_headers
        if scope["path"].startswith(_NO_STORE_PREFIXES):
            ours = (*ours, (b"cache-control", b"no-store"))
        ours = (*ours, (b"x-request-id", request_id.encode()))
        replaced = {name for name, _ in ours}

        async def send_with_headers(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (name, value)
                    for name, value in message["headers"]
                    # CORS stays closed: no Access-Control-Allow-* header is ever sent.
                    if name.lower() not in replaced
                    and not name.lower().startswith(b"access-control-")
                ]
                message = {**message, "headers": [*kept, *ours]}
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await super().asgi_app(scope, receive, send_with_headers)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)

    @functools.cached_property
    def _envelope_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        headers = [(name.lower().encode(), value.encode()) for name, value in _SECURITY_HEADERS]
        if state_of(self).signer.secure_cookies:
            headers.append((b"strict-transport-security", b"max-age=31536000"))
        return tuple(headers)

    async def handle_request(self, request: Request) -> ResponseTypes:
        started = time.perf_counter()
        response = await super().handle_request(request)
        elapsed = time.perf_counter() - started
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        status = response.status_code
        state_of(self).metrics.observe_request(route, request.method, status, elapsed)
        log.info(
            "request",
            method=request.method,
            route=route,
            status=status,
            ms=round(elapsed * 1000, 1),
        )
        return response

    async def preprocess_request(self, ctx: AppContext) -> ResponseReturnValue | None:
        app_state = state_of(self)
        limit = app_state.body_limits.get(
            ctx.request.endpoint or "", app_state.settings.http.max_body_bytes
        )
        # Quart's body reader was built with MAX_CONTENT_LENGTH, the largest limit of any
        # route (a feature's upload, `BODY_LIMITS`); this route's own limit applies while the
        # body streams in too.
        ctx.request.body._max_content_length = limit
        length = ctx.request.content_length
        if length is not None and length > limit:
            raise RequestEntityTooLarge()
        return await super().preprocess_request(ctx)

    async def process_response(self, ctx: AppContext, response: ResponseTypes) -> ResponseTypes:
        response = await super().process_response(ctx, response)
        renewed = ctx.g.get("ts_renewed_access")
        if renewed:
            state_of(self).signer.set_cookie(response, "access", renewed)
        return response


def _request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's `X-Request-ID` when it is 8-64 characters of `[A-Za-z0-9._-]`, else new."""
    for name, value in headers:
        if name.lower() == b"x-request-id":
            incoming = value.decode("latin-1")
            if _CLIENT_REQUEST_ID.fullmatch(incoming):
                return incoming
            break
    return uuid.uuid4().hex


async def run_http(
    settings: Settings,
    redis_url: str,
    database_url: str,
    keyspace: Keyspace,
    *,
    shutdown: asyncio.Event,
) -> None:
    """Serve the app with hypercorn on `http.host`:`http.port` until `shutdown` is set.

    The app's Prometheus metrics are served on a listener of their own,
    `http.metrics_host`:`http.metrics_port` (loopback by default; port 0: none), never on the
    public port. Either bind failing stops both.
    """
    from townsquare.core.db import connect

    http = settings.http
    app = create_app(settings, redis_url, database_url, keyspace, discord=None)
    servers: list[tuple[Framework, Config]] = [(app, _hypercorn_config(http.host, http.port))]
    if http.metrics_port:
        metrics = metrics_app(state_of(app).metrics)
        servers.append((metrics, _hypercorn_config(http.metrics_host, http.metrics_port)))
    # The ORM's context must be set in this task: hypercorn's request tasks inherit it.
    async with connect(database_url, pool_max=settings.database.pool_max):
        log.info(
            "http_serving",
            bind=servers[0][1].bind[0],
            metrics=servers[1][1].bind[0] if len(servers) > 1 else None,
        )
        async with asyncio.TaskGroup() as group:
            for served, config in servers:
                group.create_task(_serve(served, config, shutdown))


async def _serve(app: Framework, config: Config, shutdown: asyncio.Event) -> None:
    """hypercorn's `serve`, with a failed bind logged with its address before it stops all."""
    from hypercorn.asyncio import serve

    try:
        await serve(app, config, shutdown_trigger=shutdown.wait, mode="asgi")
    except OSError as error:
        log.error("http_listen_failed", bind=config.bind[0], reason=str(error))
        raise


def _hypercorn_config(host: str, port: int) -> Config:
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{host}:{port}"]  # keyspace: not a key
    config.accesslog = None  # every request is logged once, with its request id, by the app
    config.graceful_timeout = 5.0
    config.include_server_header = False
    return config
