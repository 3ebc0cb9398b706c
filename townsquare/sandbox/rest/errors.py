"""Discord's JSON errors: `{"message": ..., "code": ...}` with Discord's status and codes."""

from __future__ import annotations

import json
import typing

from aiohttp import web

__all__ = ["DiscordError", "ErrorCode", "form_error", "json_response"]


class ErrorCode:
    """Discord JSON error codes the sandbox returns."""

    GENERAL = 0
    UNKNOWN_APPLICATION = 10002
    UNKNOWN_CHANNEL = 10003
    UNKNOWN_GUILD = 10004
    UNKNOWN_INVITE = 10006
    UNKNOWN_MEMBER = 10007
    UNKNOWN_MESSAGE = 10008
    UNKNOWN_ROLE = 10011
    UNKNOWN_USER = 10013
    UNKNOWN_WEBHOOK = 10015
    UNKNOWN_BAN = 10026
    UNKNOWN_ENTITLEMENT = 10075
    UNKNOWN_INTERACTION = 10062
    TARGET_NOT_IN_VOICE = 40032
    ENTITY_TOO_LARGE = 40005
    ALREADY_ACKNOWLEDGED = 40060
    MISSING_ACCESS = 50001
    CANNOT_EDIT_OTHERS_MESSAGE = 50005
    EMPTY_MESSAGE = 50006
    CANNOT_MESSAGE_USER = 50007
    MISSING_PERMISSIONS = 50013
    INVALID_WEBHOOK_TOKEN = 50027
    INVALID_ROLE = 50028
    BULK_DELETE_TOO_OLD = 50034
    INVALID_FORM_BODY = 50035
    INVALID_JSON = 50109


class DiscordError(Exception):
    """An API error as Discord answers it; raised by routes, rendered by the middleware."""

    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, typing.Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, typing.Any]:
        body: dict[str, typing.Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body

    @classmethod
    def unknown(cls, code: int, what: str) -> DiscordError:
        return cls(404, code, f"Unknown {what}")

    @classmethod
    def missing_permissions(cls) -> DiscordError:
        return cls(403, ErrorCode.MISSING_PERMISSIONS, "Missing Permissions")

    @classmethod
    def missing_access(cls) -> DiscordError:
        return cls(403, ErrorCode.MISSING_ACCESS, "Missing Access")


def form_error(field: str, code: str, message: str) -> DiscordError:
    """A 400 Invalid Form Body naming the offending field, as Discord nests it ("" the root)."""
    node: dict[str, typing.Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(field.split(".") if field else []):
        node = {part: node}
    return DiscordError(400, ErrorCode.INVALID_FORM_BODY, "Invalid Form Body", node)


def json_response(body: typing.Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )
