"""The dashboard's API key page: create a key (shown once), list and revoke keys.

Same rules as every dashboard guild page: the session's user must manage the guild (checked
before anything else), and every POST carries the session's CSRF token. A new key is shown in
the answer to the POST itself, never in a URL, and `Cache-Control: no-store` keeps it out of
caches; after that only its prefix is ever shown.
"""

from __future__ import annotations

import typing

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from quart import g, redirect, render_template, request, url_for
from quart_schema import hide

from townsquare.core.audit.models import ActorKind
from townsquare.core.audit.service import Actor
from townsquare.core.premium import PremiumRefused
from townsquare.core.validation import Text, parse_id
from townsquare.features.apikeys.domain.service import (
    MAX_ACTIVE_KEYS,
    ApiKeyError,
    CreatedKey,
    create_key,
    list_keys,
    revoke_key,
)
from townsquare.http.access import managed_guild
from townsquare.http.blueprints import dashboard_blueprint
from townsquare.http.errors import field_errors
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from werkzeug.wrappers.response import Response as BaseResponse

    from townsquare.http.access import Session

__all__ = ["NewKey", "blueprint"]

blueprint = dashboard_blueprint(
    "api_keys", __name__, url_prefix="/dashboard/guilds/<id:guild_id>/api-keys"
)


class NewKey(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    name: typing.Annotated[Text, Field(min_length=1, max_length=100)]
    """What the key is for, e.g. "website leaderboard"."""


def _actor(session: Session) -> Actor:
    return Actor(ActorKind.USER, session.user_id, session.username)


async def _render(
    guild_id: int,
    *,
    created: CreatedKey | None = None,
    errors: dict[str, list[str]] | None = None,
    name: str = "",
    notice: str = "",
) -> str:
    session: Session = g.ts_session
    guild = await managed_guild(session, guild_id)
    return await render_template(
        "apikeys/api_keys.html",
        user=session,
        guild_id=guild_id,
        guild_name=guild.name if guild else str(guild_id),
        keys=await list_keys(guild_id),
        created=created,
        errors=errors or {},
        name=name,
        notice=notice,
        max_keys=MAX_ACTIVE_KEYS,
    )


@blueprint.get("")
@hide
async def show(guild_id: int) -> str:
    notice = (
        "Key revoked. Requests with it are refused from now on."
        if request.args.get("revoked") == "1"
        else ""
    )
    return await _render(guild_id, notice=notice)


@blueprint.post("")
@hide
async def create(guild_id: int) -> tuple[str, int]:
    form = await request.form
    submitted = form.get("name", "")
    try:
        new = NewKey.model_validate({"name": submitted})
        gate = state().require_gate()
        created = await create_key(guild_id, new.name, _actor(g.ts_session), gate=gate)
    except ValidationError as error:
        return await _render(guild_id, errors=field_errors(error), name=submitted), 400
    except PremiumRefused as refused:
        shown = f"{refused.verdict.explain()} See the premium page."
        return await _render(guild_id, errors={"_": [shown]}, name=submitted), 402
    except ApiKeyError as error:
        return await _render(guild_id, errors={"_": [str(error)]}, name=submitted), 409
    return await _render(guild_id, created=created), 201


@blueprint.post("/revoke")
@hide
async def revoke(guild_id: int) -> BaseResponse | tuple[str, int]:
    form = await request.form
    raw = form.get("key_id", "").strip()
    if not raw.isascii() or not raw.isdecimal():
        return await _render(
            guild_id, errors={"_": ["the form names no key; reload the page"]}
        ), 400
    key_id = parse_id(raw)
    if key_id is None:  # a number no key can have (past 2^63-1): as an unknown key
        return await _render(guild_id, errors={"_": ["no such API key in this server"]}), 404
    app_state = state()
    try:
        await revoke_key(
            app_state.require_redis(), app_state.keyspace, guild_id, key_id, _actor(g.ts_session)
        )
    except ApiKeyError as error:
        return await _render(guild_id, errors={"_": [str(error)]}), 404
    return redirect(url_for("api_keys.show", guild_id=guild_id, revoked="1"), 303)
