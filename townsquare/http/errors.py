"""One error type for the whole service, rendered as JSON (or as a page for the dashboard).

Handlers raise :class:`APIError`; pydantic and quart-schema validation failures become a 400
with one entry per field, and any other HTTP error keeps its status with a JSON body. An
unexpected exception is logged with the request id and answered with a 500 that says nothing
about its cause.
"""

from __future__ import annotations

import typing

import structlog
from pydantic import ValidationError
from quart import Response, jsonify, render_template, request
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException

if typing.TYPE_CHECKING:
    from quart import Quart

__all__ = ["APIError", "field_errors", "register_error_handlers"]

log = structlog.get_logger(__name__)


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


async def _render(error: APIError) -> Response:
    if _wants_html():
        page = await render_template("error.html", error=error)
        return Response(page, status=error.status, content_type="text/html; charset=utf-8")
    response = jsonify(error.body())
    response.status_code = error.status
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Cookie realm="townsquare"'
    return response


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
        log.error("unhandled_error", error_type=type(error).__name__, exc_info=error)
        return await _render(APIError(500, "internal_error", "something went wrong on our side"))
