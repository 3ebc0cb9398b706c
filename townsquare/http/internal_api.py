"""`/internal/v1`: the kernel's own route for the shards, behind the service token (flow 2).

Every route needs `Authorization: Bearer <service token>` (401 otherwise; see
:func:`~townsquare.http.blueprints.internal_blueprint`, which features' internal routes use
too). Here: the guild's configuration document, read through the Redis config cache, which
the shards' commands fall back to when their cached copy is missing.
"""

from __future__ import annotations

import typing

from quart_schema import hide

from townsquare.core.commands_api import ConfigShown
from townsquare.http.blueprints import internal_blueprint
from townsquare.http.config_changes import read_config
from townsquare.http.errors import APIError

__all__ = ["blueprint", "snowflake"]

blueprint = internal_blueprint("internal", __name__)

_SNOWFLAKE_MAX: typing.Final = 2**63


def snowflake(value: int, field: str) -> int:
    """`value` if it is a Discord id; otherwise a 400 naming `field`."""
    if not 1 <= value < _SNOWFLAKE_MAX:
        raise APIError(400, "invalid_path", "not a Discord id", {field: ["not a Discord id"]})
    return value


@blueprint.get("/guilds/<int:guild_id>/config")
@hide
async def config_show(guild_id: int) -> dict[str, typing.Any]:
    snowflake(guild_id, "guild_id")
    versioned = await read_config(guild_id)
    return ConfigShown(
        guild_id=guild_id,
        version=versioned.version,
        config=versioned.config.model_dump(mode="json"),
    ).model_dump(mode="json")
