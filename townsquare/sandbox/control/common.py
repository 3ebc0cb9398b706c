"""Helpers of the control API: its error type and body parsing."""

from __future__ import annotations

import ipaddress
import typing

if typing.TYPE_CHECKING:
    from aiohttp import web

    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.models import Guild

__all__ = [
    "ControlError",
    "find_guild",
    "flag",
    "is_loopback",
    "read_json",
    "shard_id",
    "snowflake",
]


class ControlError(Exception):
    """Answered as `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def read_json(request: web.Request) -> dict[str, typing.Any]:
    if not request.body_exists:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise ControlError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ControlError(400, "the body must be a JSON object")
    return body


def snowflake(body: dict[str, typing.Any], key: str) -> int:
    value = body.get(key)
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    raise ControlError(400, f"{key} must be a snowflake (string or integer)")


def shard_id(body: dict[str, typing.Any]) -> int | None:
    shard_id = body.get("shard_id")
    if shard_id is not None and (not isinstance(shard_id, int) or isinstance(shard_id, bool)):
        raise ControlError(400, "shard_id must be an integer")
    return shard_id


def is_loopback(remote: str | None) -> bool:
    if remote is None:
        return False
    try:
        return ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def find_guild(world: World, body: dict[str, typing.Any]) -> Guild:
    """The body's `guild_id`, or the only guild when the world has one and none is given."""
    if "guild_id" not in body and len(world.guilds) == 1:
        return next(iter(world.guilds.values()))
    guild = world.guilds.get(snowflake(body, "guild_id"))
    if guild is None:
        raise ControlError(404, f"no guild {body['guild_id']}")
    return guild


def flag(body: dict[str, typing.Any], key: str) -> bool | None:
    """An optional boolean field."""
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise ControlError(400, f"{key} must be true or false")
    return value
