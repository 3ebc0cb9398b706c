"""The server-rendered dashboard: guild picker and the features' config pages (flow 9).

The pages are the enabled features' (`PAGES` of their `web` modules, see
:class:`~townsquare.http.config_forms.ConfigPage`); this module knows none by name.

Plain HTML forms that work without JavaScript. Each guild page posts back to itself with the
config version it showed and the session's CSRF token; a valid change is saved through
:func:`apply_change` (database + audit in one transaction, then the Redis cache) and answered
with a redirect to the page and a success message naming what changed (`?changed=`, the
changed fields' names; the page shows their labels and new values); invalid values come back
with the error beside the field (400); a change based on an older version is refused with the
reason (409).
"""

from __future__ import annotations

import asyncio
import typing

from pydantic import ValidationError
from quart import g, redirect, render_template, request, url_for
from quart_schema import hide

from townsquare.core.premium import PremiumRefused
from townsquare.http.access import managed_guild, managed_guilds
from townsquare.http.blueprints import dashboard_blueprint
from townsquare.http.config_changes import apply_change, read_config, reference_problems
from townsquare.http.config_forms import (
    ConfigPage,
    apply_form,
    changed_fields,
    describe_value,
    entries_to_fields,
    field_bounds,
    form_values,
    page_errors,
    submitted_value,
)
from townsquare.http.errors import APIError, field_errors
from townsquare.http.guild_lookups import guild_roles, guild_text_channels
from townsquare.http.layout import guild_heading
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from werkzeug.wrappers.response import Response as BaseResponse

    from townsquare.core.config.schemas import GuildConfig
    from townsquare.http.access import Session
    from townsquare.http.guild_lookups import Option

__all__ = ["blueprint", "config_page", "page_saved", "render_page"]

blueprint = dashboard_blueprint("dashboard", __name__)


def config_page(name: str) -> ConfigPage:
    """The enabled feature's page called `name`; 404 when there is none."""
    page = state().pages.get(name)
    if page is None:
        raise APIError(404, "not_found", f"no dashboard page {name!r}")
    return page


def page_saved(
    guild_id: int, page: str, changed: list[str] | None = None, **done: str
) -> BaseResponse:
    """The answer to a successful change: back to `page`, with its success message (naming
    the `changed` fields of the page's form, when it says; `done`: what a feature's own form
    did, for its part of the page to say, e.g. `reward_added=<id>`)."""
    query: dict[str, typing.Any] = {} if changed is None else {"changed": ",".join(changed)}
    query |= done
    query["saved"] = "1"  # last, so a URL ending in saved=1 is a saved page
    return redirect(url_for("dashboard.show", guild_id=guild_id, page=page, **query), 303)


@blueprint.get("")
@hide
async def picker() -> str:
    session: Session = g.ts_session
    guilds = [guild_heading(guild) for guild in await managed_guilds(session)]
    return await render_template("guilds.html", user=session, guilds=guilds)


@blueprint.get("/guilds/<id:guild_id>/<page>")
@hide
async def show(guild_id: int, page: str) -> str:
    spec = config_page(page)
    versioned = await read_config(guild_id)
    values = form_values(versioned.config, spec)
    saved = request.args.get("saved") == "1"
    known = {field.name for field in spec.fields}
    asked = request.args.get("changed")
    changed = None if asked is None else [n for n in asked.split(",") if n in known]
    return await render_page(
        guild_id, page, versioned.version, values, {}, saved=saved, changed=changed
    )


@blueprint.post("/guilds/<id:guild_id>/<page>")
@hide
async def change(guild_id: int, page: str) -> BaseResponse | tuple[str, int]:
    spec = config_page(page)
    form = await request.form
    current = await read_config(guild_id)
    section, fields = spec.section, spec.fields
    submitted = {field.name: submitted_value(field, form) for field in fields}
    try:
        expected = int(form.get("expected_version", ""))
    except ValueError:
        return await render_page(
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
        return await render_page(guild_id, page, expected, submitted, errors), 400
    # The API's checks, with its messages; typed ids are taken when Discord can't be asked.
    problems = await reference_problems(guild_id, current.config, new, when_unknown="accept")
    if problems:
        return await render_page(
            guild_id, page, expected, submitted, page_errors(problems, section)
        ), 400
    changed = changed_fields(form_values(current.config, spec), form_values(new, spec), fields)
    if changed or expected != current.version:  # nothing changed: no new version, no audit
        refused = await _save(guild_id, page, new, expected, submitted)
        if refused is not None:
            return refused
    return page_saved(guild_id, page, changed)


async def _save(
    guild_id: int, page: str, new: GuildConfig, expected: int, submitted: dict[str, str]
) -> tuple[str, int] | None:
    """Save `new` over version `expected`: None when saved, else the page saying why not."""
    try:
        await apply_change(guild_id, new, expected, g.ts_session)
    except PremiumRefused as refused:  # past a premium limit: said on the page, kept typed
        shown = f"{refused.verdict.explain()} See the premium page."
        return await render_page(guild_id, page, expected, submitted, {"_": [shown]}), 402
    except APIError as error:
        if error.code != "version_conflict":
            raise
        latest = await read_config(guild_id)
        return await render_page(
            guild_id,
            page,
            latest.version,
            form_values(latest.config, config_page(page)),
            {},
            conflict=error.message,
        ), 409
    return None


async def render_page(
    guild_id: int,
    page: str,
    version: int,
    values: dict[str, str],
    errors: dict[str, list[str]],
    *,
    saved: bool = False,
    changed: list[str] | None = None,
    conflict: str = "",
    extra_errors: dict[str, list[str]] | None = None,
    extra_values: dict[str, str] | None = None,
) -> str:
    """`page` of `guild_id` with `values` in its form and `errors` beside its fields.

    `extra_errors` and `extra_values` go to the page's extra part (a feature's own form);
    `changed` names the fields a save just changed (None: the save did not say).
    """
    spec = config_page(page)
    guild = await managed_guild(g.ts_session, guild_id)
    roles, channels = await _pickers(guild_id, spec)
    extra = await spec.extra_context(guild_id) if spec.extra_context is not None else {}
    names = {str(o.id): o.name for o in (roles or []) + (channels or [])}
    by_name = {field.name: field for field in spec.fields}
    summary = [
        (by_name[name].label, describe_value(by_name[name], values.get(name, ""), names))
        for name in changed or ()
    ]
    return await render_template(
        "config_page.html",
        user=g.ts_session,
        guild_id=guild_id,
        guild_name=guild.name if guild else str(guild_id),
        page=page,
        title=spec.title,
        fields=spec.fields,
        values=values,
        errors=errors,
        version=version,
        saved=saved,
        changed=None if changed is None else summary,
        bounds={field.name: field_bounds(spec.section, field) for field in spec.fields},
        conflict=conflict,
        extra_template=spec.extra_template,
        extra=extra,
        extra_errors=extra_errors or {},
        extra_values=extra_values or {},
        roles=roles,
        channels=channels,
    )


async def _pickers(
    guild_id: int, page: ConfigPage
) -> tuple[list[Option] | None, list[Option] | None]:
    """The guild's roles and text channels, where the page picks them (asked side by side)."""
    kinds = {field.kind for field in page.fields}

    async def nothing() -> None:
        return None

    return await asyncio.gather(
        guild_roles(guild_id) if page.picks_roles or kinds & {"role", "role_list"} else nothing(),
        guild_text_channels(guild_id) if kinds & {"channel", "channel_list"} else nothing(),
    )
