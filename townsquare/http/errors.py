"""One error type for the whole service, rendered as JSON (or as a page for the dashboard).

Handlers raise :class:`APIError`; pydantic and quart-schema validation failures become a 400
with one entry per field, and any other HTTP error keeps its status with a JSON body. An
exception that says Redis or PostgreSQL cannot answer right now (:func:`unavailable_backend`)
becomes a 503 `service_unavailable` with `Retry-After`, wherever it was raised: one mapping
here, not one per route. Any other unexpected exception is logged with the request id and
answered with a 500 that says nothing about its cause.
"""

from __future__ import annotations

import typing

import asyncpg  # type: ignore[import-untyped]  # no stubs; only its exception classes
import redis.exceptions
import structlog
import tortoise.exceptions
from pydantic import ValidationError
from quart import Response, jsonify, render_template, request
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException

if typing.TYPE_CHECKING:
    from quart import Quart

__all__ = [
    "RETRY_AFTER_SECONDS",
    "APIError",
    "field_errors",
    "register_error_handlers",
    "render_error",
    "unavailable_backend",
]

log = structlog.get_logger(__name__)

RETRY_AFTER_SECONDS: typing.Final = 5
"""`Retry-After` of a 503 when Redis or PostgreSQL is unavailable: long enough not to add load
while a server restarts, short enough that a client retrying by it notices the recovery."""

_REDIS_UNAVAILABLE: typing.Final = (
    redis.exceptions.ConnectionError,  # refused, reset, DNS; LOADING (BusyLoadingError)
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,  # a replica during failover
    redis.exceptions.TryAgainError,
)
_REDIS_BUSY_REPLIES: typing.Final = ("BUSY ", "MASTERDOWN ")
"""Error replies redis-py has no class for: a script running past its time limit blocks every
client with `BUSY` until it ends; a replica without its master answers `MASTERDOWN`."""
_POSTGRES_UNAVAILABLE: typing.Final = (
    tortoise.exceptions.DBConnectionError,
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08: connection lost, refused by the server
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutting down, starting up
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.InterfaceError,  # the pool is closing, or the connection was closed under us
)
_POSTGRES_MODULES: typing.Final = ("asyncpg", "tortoise")
"""An `OSError` or `TimeoutError` raised in these (connecting the pool) means PostgreSQL."""


def unavailable_backend(error: BaseException) -> str | None:
    """`"redis"` or `"postgresql"` when `error` (or one it was raised from, or one of a group)
    says that server cannot answer right now; None for anything else.

    Connecting asyncpg's pool raises plain `OSError` (refused) and `TimeoutError`; those count
    as PostgreSQL's only when raised inside asyncpg or tortoise, so an unreachable Discord
    (aiohttp's errors are `OSError` too) is not reported as a database outage.
    """
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, _REDIS_UNAVAILABLE) or (
            isinstance(current, redis.exceptions.ResponseError)
            and str(current).startswith(_REDIS_BUSY_REPLIES)
        ):
            return "redis"
        if isinstance(current, _POSTGRES_UNAVAILABLE) or (
            isinstance(current, (OSError, TimeoutError)) and _raised_in(current, _POSTGRES_MODULES)
        ):
            return "postgresql"
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(cause for cause in (current.__cause__, current.__context__) if cause)
    return None


def _raised_in(error: BaseException, modules: tuple[str, ...]) -> bool:
    traceback = error.__traceback__
    while traceback is not None:
        module = traceback.tb_frame.f_globals.get("__name__", "")
        if module.split(".", 1)[0] in modules:
            return True
        traceback = traceback.tb_next
    return False


class APIError(Exception):
    """An error answer: HTTP `status`, a stable machine `code`, words for people, field errors."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str = "",
        fields: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message or code)
        self.status = status
        self.code = code
        self.message = message or code.replace("_", " ")
        self.fields = fields or {}

    def body(self) -> dict[str, typing.Any]:
        body: dict[str, typing.Any] = {"error": {"code": self.code, "message": self.message}}
        if self.fields:
            body["error"]["fields"] = self.fields
        return body


def field_errors(error: ValidationError, *, strip: int = 0) -> dict[str, list[str]]:
    """pydantic's errors as `{"dotted.field": [message, ...]}`; `strip` drops leading parts."""
    fields: dict[str, list[str]] = {}
    for detail in error.errors(include_url=False, include_input=False):
        loc = [str(part) for part in detail["loc"][strip:]]
        fields.setdefault(".".join(loc) or "_", []).append(detail["msg"])
    return fields


def _wants_html() -> bool:
    return request.path.startswith(("/dashboard", "/auth")) and "text/html" in request.headers.get(
        "Accept", ""
    )


async def render_error(error: APIError) -> Response:
    """`error` as the answer: JSON, or the error page for the dashboard."""
    return await _render(error)


async def _render(error: APIError) -> Response:
    if _wants_html():
        page = await render_template("error.html", error=error)
        return Response(page, status=error.status, content_type="text/html; charset=utf-8")
    response = jsonify(error.body())
    response.status_code = error.status
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Cookie realm="townsquare"'
    return response


def _unavailable(backend: str) -> APIError:
    names = {"redis": "Redis", "postgresql": "PostgreSQL"}
    message = f"{names[backend]} is unavailable; try again in a few seconds"
    return APIError(503, "service_unavailable", message)


def register_error_handlers(app: Quart) -> None:
    @app.errorhandler(APIError)
    async def _api_error(error: APIError) -> Response:
        return await _render(error)

    @app.errorhandler(RequestSchemaValidationError)
    async def _schema_error(error: RequestSchemaValidationError) -> Response:
        cause = error.validation_error
        if isinstance(cause, ValidationError):
            fields = field_errors(cause)
        else:  # quart-schema wraps a non-JSON or non-object body in a TypeError
            fields = {"_": ["the body must be a JSON object"]}
        return await _render(APIError(400, "invalid_body", "the request body is not valid", fields))

    @app.errorhandler(HTTPException)
    async def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = (error.name or "error").lower().replace(" ", "_")
        messages = {
            400: "the request is malformed",
            404: "no such route (ids in paths are whole numbers from 1 to 9223372036854775807)",
            405: "method not allowed on this route",
            413: "the request body is too large",
            415: "the body must be JSON (Content-Type: application/json)",
        }
        response = await _render(APIError(status, code, messages.get(status, code)))
        allowed = getattr(error, "valid_methods", None)
        if status == 405 and allowed:
            response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(Exception)
    async def _unexpected(error: Exception) -> Response:
        if backend := unavailable_backend(error):
            # Expected while a server restarts; /readyz says the same. No traceback: the
            # type is enough, and the message of a driver's error may carry its URL.
            log.warning("backend_unavailable", backend=backend, error_type=type(error).__name__)
            response = await _render(_unavailable(backend))
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        log.error("unhandled_error", error_type=type(error).__name__, exc_info=error)
        return await _render(APIError(500, "internal_error", "something went wrong on our side"))
