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

__all__ = ["blueprint"]

blueprint = internal_blueprint("internal", __name__)


@blueprint.get("/guilds/<id:guild_id>/config")
@hide
async def config_show(guild_id: int) -> dict[str, typing.Any]:
    versioned = await read_config(guild_id)
    return ConfigShown(
        guild_id=guild_id,
        version=versioned.version,
        config=versioned.config.model_dump(mode="json"),
    ).model_dump(mode="json")
