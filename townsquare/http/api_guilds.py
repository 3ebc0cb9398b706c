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
from quart import Blueprint, Response, g, jsonify, request
from quart_schema import (
    APIKeySecurityScheme,
    security_scheme,
    validate_request,
    validate_response,
)

from townsquare.core.config.schemas import CURRENT_SCHEMA_VERSION, GuildConfig
from townsquare.http.access import current_session, managed_guilds, require_manager
from townsquare.http.config_changes import (
    DiscordUnavailableError,
    apply_change,
    read_config,
    reference_problems,
)
from townsquare.http.errors import APIError
from townsquare.http.level_rewards import (
    NewReward,
    RewardOut,
    add_reward,
    list_rewards,
    remove_reward,
)
from townsquare.http.openapi import errors, non_json_response
from townsquare.http.sessions import ACCESS_COOKIE
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from quart_schema.extension import SecuritySchemeInput

    from townsquare.http.access import Session

__all__ = ["SECURITY_SCHEMES", "blueprint"]

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
SECURITY_SCHEMES: typing.Final[dict[str, SecuritySchemeInput]] = {
    "session": APIKeySecurityScheme(type="apiKey", in_="cookie", name=ACCESS_COOKIE),
    "csrf": APIKeySecurityScheme(type="apiKey", in_="header", name="X-CSRF-Token"),
}
"""The dashboard session's cookie (from logging in at `/auth/login`), and for writes the CSRF
token of `GET /api/v1/me` in `X-CSRF-Token`."""
_READ: typing.Final = security_scheme([{"session": []}])
_WRITE: typing.Final = security_scheme([{"session": [], "csrf": []}])

SAFE_METHODS: typing.Final = frozenset({"GET", "HEAD", "OPTIONS"})


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
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

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


@blueprint.before_request
async def _authorize() -> None:
    """Guild routes: session, then the right to manage the guild, then CSRF on writes."""
    view_args = request.view_args or {}
    guild_id = view_args.get("guild_id")
    session: Session = (
        await require_manager(int(guild_id)) if guild_id is not None else await current_session()
    )
    g.ts_session = session
    if request.method not in SAFE_METHODS:
        state().signer.check_csrf(session.session_id, request.headers.get("X-CSRF-Token"))


@blueprint.errorhandler(DiscordUnavailableError)
async def _discord_unavailable(error: DiscordUnavailableError) -> Response:
    response = jsonify(error.body())
    response.status_code = error.status
    response.headers["Retry-After"] = str(error.retry_after)
    return response


@blueprint.get("/me")
@_READ
@validate_response(Me)
@errors(401, 502)
async def me() -> Me:
    """The signed-in user and the CSRF token for writes."""
    session: Session = g.ts_session
    return Me(id=str(session.user_id), username=session.username, csrf_token=session.csrf_token)


@blueprint.get("/guilds")
@_READ
@validate_response(GuildList)
@errors(401, 502)
async def guilds() -> GuildList:
    """Guilds the user may manage (owner, Administrator or Manage Server) and the bot is in."""
    found = await managed_guilds(g.ts_session)
    return GuildList(
        guilds=[GuildSummary(id=str(guild.id), name=guild.name, icon=guild.icon) for guild in found]
    )


@blueprint.get("/guilds/<id:guild_id>/config")
@_READ
@validate_response(ConfigOut)
@errors(401, 403, 404, 502)
async def get_config(guild_id: int) -> ConfigOut:
    """The guild's configuration and its version."""
    versioned = await read_config(guild_id)
    return ConfigOut(guild_id=str(guild_id), version=versioned.version, config=versioned.config)


@blueprint.put("/guilds/<id:guild_id>/config")
@_WRITE
@validate_request(ConfigPut)
@validate_response(ConfigOut)
@errors(400, 401, 403, 404, 409, 413, 415, 502, 503)
async def put_config(guild_id: int, data: ConfigPut) -> ConfigOut:
    """Replace the configuration; 409 when `expected_version` is not the stored version.

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


class RewardList(BaseModel):
    rewards: list[RewardOut]


@blueprint.get("/guilds/<id:guild_id>/level-rewards")
@_READ
@validate_response(RewardList)
@errors(401, 403, 404, 502)
async def get_rewards(guild_id: int) -> RewardList:
    """The guild's level-role rewards."""
    return RewardList(rewards=await list_rewards(guild_id))


@blueprint.post("/guilds/<id:guild_id>/level-rewards")
@_WRITE
@validate_request(NewReward)
@validate_response(RewardOut, 201)
@errors(400, 401, 403, 404, 409, 413, 415, 502, 503)
async def post_reward(guild_id: int, data: NewReward) -> tuple[RewardOut, int]:
    """Add a level-role reward; 409 when it exists or the server has the most it may.

    400 for a level above the server's `xp.max_level`, or a role the bot cannot give: not the
    server's, @everyone, a managed role, or one not below the bot's highest role. 503
    `discord_unavailable` when Discord cannot be asked about the role.
    """
    max_level = (await read_config(guild_id)).config.xp.max_level
    reward = await add_reward(guild_id, data, max_level, g.ts_session, when_unknown="refuse")
    return reward, 201


@blueprint.delete("/guilds/<id:guild_id>/level-rewards/<id:reward_id>")
@_WRITE
@non_json_response(204, "removed (no body)")
@errors(401, 403, 404, 502)
async def delete_reward(guild_id: int, reward_id: int) -> Response:
    """Remove a level-role reward."""
    await remove_reward(guild_id, reward_id, g.ts_session)
    return Response(status=204)
