"""Application commands: list and bulk overwrite, global and per guild, with Discord's checks.

Names: chat-input commands and options match `^[-_'\\w]{1,32}$` in lower case, with a
description of 1-100 characters; user and message commands take any 1-32 character name and
no description. At most 25 options, 100 chat-input and 5 each of user and message commands,
no duplicate (type, name). Errors are 400 50035 naming the offending index and field.
"""

from __future__ import annotations

import re
import typing

from aiohttp import web

from townsquare.sandbox.rest.common import find_guild, snowflake
from townsquare.sandbox.rest.errors import DiscordError, ErrorCode, form_error, json_response
from townsquare.sandbox.world.commands import CHAT_INPUT, overwrite_commands

if typing.TYPE_CHECKING:
    from townsquare.sandbox.world import World
    from townsquare.sandbox.world.payloads import JSON

__all__ = ["routes"]

_CHAT_NAME: typing.Final = re.compile(r"^[-_'\w]{1,32}$")
_LIMITS: typing.Final = {1: 100, 2: 5, 3: 5}
_MAX_OPTIONS: typing.Final[int] = 25


def routes(world: World) -> list[web.RouteDef]:
    def check_application(request: web.Request) -> None:
        if snowflake(request, "application_id") != world.application.id:
            raise DiscordError(403, ErrorCode.MISSING_ACCESS, "Missing Access")

    async def list_global(request: web.Request) -> web.Response:
        check_application(request)
        return json_response([c.payload() for c in world.commands.get(None, {}).values()])

    async def list_guild(request: web.Request) -> web.Response:
        check_application(request)
        guild = find_guild(world, request)
        return json_response([c.payload() for c in world.commands.get(guild.id, {}).values()])

    async def overwrite_global(request: web.Request) -> web.Response:
        check_application(request)
        specs = _validated(await _json_list(request))
        return json_response([c.payload() for c in overwrite_commands(world, None, specs)])

    async def overwrite_guild(request: web.Request) -> web.Response:
        check_application(request)
        guild = find_guild(world, request)
        specs = _validated(await _json_list(request))
        return json_response([c.payload() for c in overwrite_commands(world, guild.id, specs)])

    base = "/api/v10/applications/{application_id}"
    return [
        web.get(base + "/commands", list_global),
        web.put(base + "/commands", overwrite_global),
        web.get(base + "/guilds/{guild_id}/commands", list_guild),
        web.put(base + "/guilds/{guild_id}/commands", overwrite_guild),
    ]


async def _json_list(request: web.Request) -> list[typing.Any]:
    try:
        body = await request.json()
    except ValueError:
        raise DiscordError(
            400, ErrorCode.INVALID_JSON, "The request body contains invalid JSON."
        ) from None
    if not isinstance(body, list):
        raise form_error("", "BASE_TYPE_ARRAY", "Must be an array.")
    return body


def _validated(specs: list[typing.Any]) -> list[JSON]:
    seen: set[tuple[int, str]] = set()
    counts = dict.fromkeys(_LIMITS, 0)
    for index, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise form_error(str(index), "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        kind = spec.get("type", CHAT_INPUT)
        if kind not in _LIMITS:
            raise form_error(
                f"{index}.type", "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3}."
            )
        _check_named(spec, str(index), chat_input=kind == CHAT_INPUT)
        options = spec.get("options") or []
        if not isinstance(options, list) or len(options) > _MAX_OPTIONS:
            raise form_error(
                f"{index}.options",
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {_MAX_OPTIONS} or fewer in length.",
            )
        for number, option in enumerate(options):
            if not isinstance(option, dict):
                raise form_error(
                    f"{index}.options.{number}",
                    "DICT_TYPE_CONVERT",
                    "Only dictionaries may be used.",
                )
            _check_named(option, f"{index}.options.{number}", chat_input=True)
        key = (kind, spec["name"])
        if key in seen:
            raise form_error(
                str(index),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique: {spec['name']}",
            )
        seen.add(key)
        counts[kind] += 1
        if counts[kind] > _LIMITS[kind]:
            raise form_error(
                "",
                "BASE_TYPE_MAX_LENGTH",
                f"Maximum number of application commands reached ({_LIMITS[kind]}).",
            )
    return typing.cast("list[JSON]", specs)


def _check_named(spec: JSON, path: str, *, chat_input: bool) -> None:
    name = spec.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        raise form_error(
            f"{path}.name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length."
        )
    description = spec.get("description") or ""
    if chat_input:
        if not _CHAT_NAME.match(name) or name != name.lower():
            raise form_error(
                f"{path}.name",
                "APPLICATION_COMMAND_INVALID_NAME",
                f"Command name is invalid: {name}",
            )
        if not isinstance(description, str) or not 1 <= len(description) <= 100:
            raise form_error(
                f"{path}.description",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
    elif description:
        raise form_error(
            f"{path}.description",
            "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
            "Context menu commands cannot have description",
        )
