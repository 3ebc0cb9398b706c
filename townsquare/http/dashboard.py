"""The server-rendered dashboard: guild picker, XP settings, level-up notices, command access
(flow 9).

Plain HTML forms that work without JavaScript. Each guild page posts back to itself with the
config version it showed and the session's CSRF token; a valid change is saved through
:func:`apply_change` (database + audit in one transaction, then the Redis cache) and answered
with a redirect to the page and a success message; invalid values come back with the error
beside the field (400); a change based on an older version is refused with the reason (409).
"""

from __future__ import annotations

import asyncio
import typing

from pydantic import ValidationError
from quart import Blueprint, g, redirect, render_template, request, url_for
from quart_schema import hide

from townsquare.http.access import check_manager, managed_guilds, optional_session
from townsquare.http.config_changes import apply_change, read_config, reference_problems
from townsquare.http.config_forms import (
    PAGES,
    FormField,
    apply_form,
    entries_to_fields,
    form_values,
    page_errors,
    submitted_value,
)
from townsquare.http.errors import APIError, field_errors
from townsquare.http.guild_lookups import (
    Option,
    guild_role_facts,
    guild_roles,
    guild_text_channels,
)
from townsquare.http.level_rewards import NewReward, add_reward, list_rewards, remove_reward
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from werkzeug.wrappers.response import Response as BaseResponse

    from townsquare.http.access import Session

__all__ = ["blueprint"]

blueprint = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@blueprint.before_request
async def _authorize() -> BaseResponse | None:
    """Guild pages: the right to manage the guild; writes: the CSRF token."""
    session = await optional_session(renew=True)
    if session is None:
        if request.method == "GET":
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        raise APIError(401, "not_logged_in", "log in with Discord first")
    guild_id = (request.view_args or {}).get("guild_id")
    if guild_id is not None:
        await check_manager(session, int(guild_id))
    g.ts_session = session
    if request.method not in {"GET", "HEAD"}:
        form = await request.form
        state().signer.check_csrf(session.session_id, form.get("csrf_token"))
    return None


@blueprint.get("")
@hide
async def picker() -> str:
    session: Session = g.ts_session
    guilds = await managed_guilds(session)
    return await render_template("guilds.html", user=session, guilds=guilds)


@blueprint.get("/guilds/<id:guild_id>/<any(xp, levels, commands):page>")
@hide
async def show(guild_id: int, page: str) -> str:
    versioned = await read_config(guild_id)
    values = form_values(versioned.config, page)
    saved = request.args.get("saved") == "1"
    return await _render(guild_id, page, versioned.version, values, {}, saved=saved)


@blueprint.post("/guilds/<id:guild_id>/<any(xp, levels, commands):page>")
@hide
async def change(guild_id: int, page: str) -> BaseResponse | tuple[str, int]:
    form = await request.form
    current = await read_config(guild_id)
    _, section, fields = PAGES[page]
    submitted = {field.name: submitted_value(field, form) for field in fields}
    try:
        expected = int(form.get("expected_version", ""))
    except ValueError:
        return await _render(
            guild_id,
            page,
            current.version,
            submitted,
            {"_": ["the form is missing its version; reload the page"]},
        ), 400
    try:
        new = apply_form(current, section, fields, form)
    except ValidationError as error:
        errors = entries_to_fields(field_errors(error, strip=1))
        return await _render(guild_id, page, expected, submitted, errors), 400
    # The API's checks, with its messages; typed ids are taken when Discord can't be asked.
    problems = await reference_problems(guild_id, current.config, new, when_unknown="accept")
    if problems:
        return await _render(
            guild_id, page, expected, submitted, page_errors(problems, section)
        ), 400
    try:
        await apply_change(guild_id, new, expected, g.ts_session)
    except APIError as error:
        if error.code != "version_conflict":
            raise
        latest = await read_config(guild_id)
        return await _render(
            guild_id,
            page,
            latest.version,
            form_values(latest.config, page),
            {},
            conflict=error.message,
        ), 409
    return redirect(url_for("dashboard.show", guild_id=guild_id, page=page, saved="1"), 303)


async def _render(
    guild_id: int,
    page: str,
    version: int,
    values: dict[str, str],
    errors: dict[str, list[str]],
    *,
    saved: bool = False,
    conflict: str = "",
    reward_errors: dict[str, list[str]] | None = None,
    reward_values: dict[str, str] | None = None,
) -> str:
    title, _, fields = PAGES[page]
    guild = next((g_ for g_ in await managed_guilds(g.ts_session) if g_.id == guild_id), None)
    roles, channels = await _pickers(guild_id, page, fields)
    return await render_template(
        "config_page.html",
        user=g.ts_session,
        guild_id=guild_id,
        guild_name=guild.name if guild else str(guild_id),
        page=page,
        pages={name: spec[0] for name, spec in PAGES.items()},
        title=title,
        fields=fields,
        values=values,
        errors=errors,
        version=version,
        saved=saved,
        conflict=conflict,
        rewards=await list_rewards(guild_id) if page == "levels" else [],
        reward_roles=await _reward_roles(guild_id) if page == "levels" else [],
        reward_errors=reward_errors or {},
        reward_values=reward_values or {},
        roles=roles,
        channels=channels,
    )


async def _pickers(
    guild_id: int, page: str, fields: tuple[FormField, ...]
) -> tuple[list[Option] | None, list[Option] | None]:
    """The guild's roles and text channels, where the page picks them (asked side by side)."""
    kinds = {field.kind for field in fields}

    async def nothing() -> None:
        return None

    return await asyncio.gather(
        guild_roles(guild_id) if page == "levels" or "role_list" in kinds else nothing(),
        guild_text_channels(guild_id) if "channel" in kinds else nothing(),
    )


async def _reward_roles(guild_id: int) -> list[Option]:
    """The roles the reward form offers: those the bot can give (below its highest role)."""
    facts = await guild_role_facts(guild_id)
    if facts is None or facts.bot_top is None:
        return []
    top = facts.bot_top.position
    return [Option(r.id, r.name) for r in facts.assignable() if r.position < top]


@blueprint.post("/guilds/<id:guild_id>/rewards")
@hide
async def add_level_reward(guild_id: int) -> BaseResponse | tuple[str, int]:
    form = await request.form
    submitted = {"level": form.get("level", ""), "role_id": form.get("role_id", "")}
    current = await read_config(guild_id)
    status, errors = 400, {}
    try:
        new = NewReward.model_validate({k: v.strip() for k, v in submitted.items()})
        await add_reward(
            guild_id, new, current.config.xp.max_level, g.ts_session, when_unknown="accept"
        )
    except ValidationError as error:
        errors = field_errors(error)
    except APIError as error:
        status, errors = error.status, error.fields or {"_": [error.message]}
    if errors:
        values = form_values(current.config, "levels")
        page = await _render(
            guild_id,
            "levels",
            current.version,
            values,
            {},
            reward_errors=errors,
            reward_values=submitted,
        )
        return page, status
    return redirect(url_for("dashboard.show", guild_id=guild_id, page="levels", saved="1"), 303)


@blueprint.post("/guilds/<id:guild_id>/rewards/<id:reward_id>/delete")
@hide
async def delete_level_reward(guild_id: int, reward_id: int) -> BaseResponse:
    await remove_reward(guild_id, reward_id, g.ts_session)
    return redirect(url_for("dashboard.show", guild_id=guild_id, page="levels", saved="1"), 303)
