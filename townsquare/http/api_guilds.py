"""`/api/v1`: the signed-in user, their guilds, and a guild's configuration (JSON).

Every route under `/api/v1/guilds/<guild_id>/` passes :func:`require_manager` before anything
else (401 without a valid session, 403 for a guild the user may not manage), and every
state-changing request must carry the session's CSRF token in `X-CSRF-Token`; only then is
the body validated (400 with field errors).
"""

from __future__ import annotations

import typing

from pydantic import BaseModel, ConfigDict, Field, model_validator
from quart import g
from quart_schema import validate_request, validate_response

from townsquare.core.config.schemas import CURRENT_SCHEMA_VERSION, GuildConfig
from townsquare.http.access import managed_guilds
from townsquare.http.blueprints import api_blueprint
from townsquare.http.config_changes import apply_change, read_config

if typing.TYPE_CHECKING:
    from townsquare.http.access import Session

__all__ = ["blueprint"]

blueprint = api_blueprint("api", __name__)


class ErrorBody(BaseModel):
    error: dict[str, typing.Any]


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
    config: GuildConfig


class ConfigPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expected_version: typing.Annotated[int, Field(ge=1)]
    """The version the change was based on; a newer stored version refuses it (409)."""
    config: GuildConfig
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
@validate_response(Me)
async def me() -> Me:
    """The signed-in user and the CSRF token for writes."""
    session: Session = g.ts_session
    return Me(id=str(session.user_id), username=session.username, csrf_token=session.csrf_token)


@blueprint.get("/guilds")
@validate_response(GuildList)
async def guilds() -> GuildList:
    """Guilds the user may manage (owner, Administrator or Manage Server) and the bot is in."""
    found = await managed_guilds(g.ts_session)
    return GuildList(
        guilds=[GuildSummary(id=str(guild.id), name=guild.name, icon=guild.icon) for guild in found]
    )


@blueprint.get("/guilds/<int:guild_id>/config")
@validate_response(ConfigOut)
async def get_config(guild_id: int) -> ConfigOut:
    """The guild's configuration and its version."""
    versioned = await read_config(guild_id)
    return ConfigOut(guild_id=str(guild_id), version=versioned.version, config=versioned.config)


@blueprint.put("/guilds/<int:guild_id>/config")
@validate_request(ConfigPut)
@validate_response(ConfigOut)
async def put_config(guild_id: int, data: ConfigPut) -> ConfigOut:
    """Replace the configuration; 409 when `expected_version` is not the stored version."""
    versioned = await apply_change(guild_id, data.config, data.expected_version, g.ts_session)
    return ConfigOut(guild_id=str(guild_id), version=versioned.version, config=versioned.config)
