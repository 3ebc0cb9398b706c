"""`/api/v1`: the signed-in user, their guilds, and a guild's configuration (JSON).

Every route under `/api/v1/guilds/<guild_id>/` passes :func:`require_manager` before anything
else (401 without a valid session, 403 for a guild the user may not manage), and every
state-changing request must carry the session's CSRF token in `X-CSRF-Token`; only then is
the body validated (400 with field errors): the schema, then the roles and channels it names
(the dashboard's checks, `config_changes.reference_problems`; 503 `discord_unavailable` with
`Retry-After` when Discord cannot be asked about them). Every answer a route can give is in
the OpenAPI description.
"""

from __future__ import annotations

import typing

from pydantic import BaseModel, ConfigDict, Field, model_validator
from quart import g
from quart_schema import validate_request, validate_response

from townsquare.core.config.schemas import CURRENT_SCHEMA_VERSION
from townsquare.core.features import guild_config_model
from townsquare.http.access import managed_guilds
from townsquare.http.blueprints import API_READ, API_WRITE, api_blueprint
from townsquare.http.config_changes import apply_change, read_config, reference_problems
from townsquare.http.errors import APIError
from townsquare.http.openapi import errors

if typing.TYPE_CHECKING:
    from townsquare.core.config.schemas import GuildConfig
    from townsquare.http.access import Session

    Document = GuildConfig
else:
    Document = guild_config_model()
    """The guild configuration of this process's enabled features (the OpenAPI's
    `GuildConfig`): the features are fixed when the HTTP service starts."""

__all__ = ["blueprint"]

blueprint = api_blueprint("api", __name__)


class Me(BaseModel):
    id: str
    username: str
    csrf_token: str
    """Send it back as `X-CSRF-Token` with every PUT, POST or DELETE."""


class GuildSummary(BaseModel):
    id: str
    name: str
    icon: str | None


class GuildList(BaseModel):
    guilds: list[GuildSummary]


class ConfigOut(BaseModel):
    guild_id: str
    version: int
    config: Document


class ConfigPut(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    expected_version: typing.Annotated[int, Field(ge=1)]
    """The version the change was based on; a newer stored version refuses it (409)."""
    config: Document
    """A whole document of the current schema version, as `GET .../config` returns it."""

    @model_validator(mode="before")
    @classmethod
    def _current_schema_only(cls, data: typing.Any) -> typing.Any:
        # Stored documents of an older schema are brought forward when read, but a change
        # written against an older schema would lose what the newer one added (the manager
        # roles, say): it is refused rather than filled in with defaults.
        if isinstance(data, dict) and isinstance(data.get("config"), dict):
            version = data["config"].get("schema_version")
            if version != CURRENT_SCHEMA_VERSION:
                raise ValueError(
                    f"config.schema_version must be {CURRENT_SCHEMA_VERSION}, not {version!r}: "
                    "GET the configuration and change that document"
                )
        return data


@blueprint.get("/me")
@API_READ
@validate_response(Me)
@errors(401, 502)
async def me() -> Me:
    """The signed-in user and the CSRF token for writes."""
    session: Session = g.ts_session
    return Me(id=str(session.user_id), username=session.username, csrf_token=session.csrf_token)


@blueprint.get("/guilds")
@API_READ
@validate_response(GuildList)
@errors(401, 502)
async def guilds() -> GuildList:
    """Guilds the user may manage (owner, Administrator or Manage Server) and the bot is in."""
    found = await managed_guilds(g.ts_session)
    return GuildList(
        guilds=[GuildSummary(id=str(guild.id), name=guild.name, icon=guild.icon) for guild in found]
    )


@blueprint.get("/guilds/<id:guild_id>/config")
@API_READ
@validate_response(ConfigOut)
@errors(401, 403, 404, 502)
async def get_config(guild_id: int) -> ConfigOut:
    """The guild's configuration and its version."""
    versioned = await read_config(guild_id)
    return ConfigOut(guild_id=str(guild_id), version=versioned.version, config=versioned.config)


@blueprint.put("/guilds/<id:guild_id>/config")
@API_WRITE
@validate_request(ConfigPut)
@validate_response(ConfigOut)
@errors(400, 401, 402, 403, 404, 409, 413, 415, 502, 503)
async def put_config(guild_id: int, data: ConfigPut) -> ConfigOut:
    """Replace the configuration; 409 when `expected_version` is not the stored version, 402
    `premium_required` when it adds past a premium limit (`xp.multiplier_rules`).

    Roles and channels the change adds must be the server's (400 naming each one otherwise);
    503 `discord_unavailable` when Discord cannot be asked about them.
    """
    current = await read_config(guild_id)
    problems = await reference_problems(
        guild_id, current.config, data.config, when_unknown="refuse"
    )
    if problems:
        raise APIError(
            400,
            "invalid_body",
            "the configuration names roles or channels it cannot use",
            {f"config.{field}": messages for field, messages in problems.items()},
        )
    versioned = await apply_change(guild_id, data.config, data.expected_version, g.ts_session)
    return ConfigOut(guild_id=str(guild_id), version=versioned.version, config=versioned.config)
