"""The XP domain's errors; adapters map them (web.py to API errors, commands to refusals)."""

from __future__ import annotations

import typing

__all__ = ["XP_OFF", "RewardError", "XPDisabledError"]

XP_OFF: typing.Final = "XP is turned off on this server, so there are no levels to show or change."


class XPDisabledError(Exception):
    """The guild has XP turned off: there are no levels to show or change."""

    def __init__(self) -> None:
        super().__init__(XP_OFF)


class RewardError(Exception):
    """A level reward that cannot be added or removed: `status` and `code` say why (HTTP's
    words, which adapters reuse), `fields` what is wrong with each field of the request."""

    def __init__(
        self, status: int, code: str, message: str, fields: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
