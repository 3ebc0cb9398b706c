"""Echo's route: `GET /echo/<text>` answers `{"echo": "echo: <text>"}` (Quart)."""

from __future__ import annotations

import typing

from quart import Blueprint

from tests.support.echo.domain import echo

__all__ = ["BLUEPRINTS"]

blueprint = Blueprint("echo", __name__, url_prefix="/echo")


@blueprint.get("/<text>")
async def say(text: str) -> dict[str, str]:
    return {"echo": echo(text)}


BLUEPRINTS: typing.Final = (blueprint,)
