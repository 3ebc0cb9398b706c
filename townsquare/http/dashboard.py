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
import dataclasses
import re
import typing

from pydantic import ValidationError
from quart import Blueprint, g, redirect, render_template, request, url_for
from quart_schema import hide

from townsquare.core.config.schemas import GuildConfig
from townsquare.http.access import check_manager, managed_guilds, optional_session
from townsquare.http.config_changes import apply_change, read_config
from townsquare.http.errors import APIError, field_errors
from townsquare.http.guild_lookups import Option, guild_roles, guild_text_channels
from townsquare.http.level_rewards import NewReward, add_reward, list_rewards, remove_reward
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from werkzeug.datastructures import MultiDict
    from werkzeug.wrappers.response import Response as BaseResponse

    from townsquare.core.config.service import VersionedConfig
    from townsquare.http.access import Session

__all__ = ["COMMANDS_FORM", "LEVELS_FORM", "XP_FORM", "FormField", "blueprint"]

blueprint = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@dataclasses.dataclass(frozen=True, slots=True)
class FormField:
    """One input: `name` is the dotted path inside the config section."""

    name: str
    label: str
    kind: typing.Literal[
        "int",
        "bool",
        "choice",
        "text",
        "textarea",
        "optional_int",
        "id_list",
        "role_list",
        "channel",
    ]
    choices: tuple[str, ...] = ()
    help: str = ""


XP_FORM: typing.Final = (
    FormField("enabled", "Award XP for messages", "bool"),
    FormField("per_message_min", "Smallest XP per message", "int"),
    FormField("per_message_max", "Largest XP per message", "int"),
    FormField(
        "cooldown_seconds",
        "Cooldown (seconds)",
        "int",
        help="messages after an award earn nothing for this long",
    ),
    FormField("max_level", "Highest level", "int"),
    FormField("curve.kind", "Level curve", "choice", ("mee6", "linear", "table")),
    FormField("curve.linear_step", "XP per level (linear curve)", "int"),
    FormField("voice.enabled", "Award XP in voice channels", "bool"),
    FormField("voice.xp_per_minute", "Voice XP per minute", "int"),
    FormField("voice.count_self_muted", "Self-muted members earn voice XP", "bool"),
    FormField("voice.min_members", "Members a voice channel needs", "int"),
)
LEVELS_FORM: typing.Final = (
    FormField(
        "reward_mode",
        "Reward roles a member keeps",
        "choice",
        ("stack", "replace"),
        "stack keeps every reward role; replace keeps only the highest",
    ),
    FormField(
        "notice.mode", "Level-up notice", "choice", ("current_channel", "channel", "dm", "off")
    ),
    FormField(
        "notice.channel_id",
        "Notice channel",
        "channel",
        help="needed when the notice goes to a channel",
    ),
    FormField(
        "notice.template",
        "Notice text",
        "textarea",
        help="{user}, {level} and {guild} are replaced; roles are never pinged",
    ),
)
COMMANDS_FORM: typing.Final = (
    FormField(
        "manager_role_ids",
        "Bot manager roles",
        "role_list",
        help=(
            "members with any of these roles may use /xp and /config show, besides members "
            "with Manage Server"
        ),
    ),
)
PAGES: typing.Final = {
    "xp": ("XP settings", "xp", XP_FORM),
    "levels": ("Level rewards and notices", "levels", LEVELS_FORM),
    "commands": ("Command access", "commands", COMMANDS_FORM),
}
_ID_SEPARATORS: typing.Final = re.compile(r"[\s,]+")
_LIST_ENTRY: typing.Final = re.compile(r"^(?P<field>.+)\.(?P<index>\d+)$")


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


@blueprint.get("/guilds/<int:guild_id>/<any(xp, levels, commands):page>")
@hide
async def show(guild_id: int, page: str) -> str:
    versioned = await read_config(guild_id)
    values = _values(versioned.config, page)
    saved = request.args.get("saved") == "1"
    return await _render(guild_id, page, versioned.version, values, {}, saved=saved)


@blueprint.post("/guilds/<int:guild_id>/<any(xp, levels, commands):page>")
@hide
async def change(guild_id: int, page: str) -> BaseResponse | tuple[str, int]:
    form = await request.form
    current = await read_config(guild_id)
    _, section, fields = PAGES[page]
    submitted = {field.name: _submitted(field, form) for field in fields}
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
        new = _apply_form(current, section, fields, form)
    except ValidationError as error:
        errors = _entries_to_fields(field_errors(error, strip=1))
        return await _render(guild_id, page, expected, submitted, errors), 400
    if errors := await _unknown_picks(guild_id, new, section, fields):
        return await _render(guild_id, page, expected, submitted, errors), 400
    try:
        await apply_change(guild_id, new, expected, g.ts_session)
    except APIError as error:
        if error.code != "version_conflict":
            raise
        latest = await read_config(guild_id)
        return await _render(
            guild_id, page, latest.version, _values(latest.config, page), {}, conflict=error.message
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


def _values(config: GuildConfig, page: str) -> dict[str, str]:
    _, section, fields = PAGES[page]
    data = config.model_dump(mode="json")[section]
    values = {}
    for field in fields:
        node: typing.Any = data
        for part in field.name.split("."):
            node = node[part]
        if field.kind == "bool":
            values[field.name] = "on" if node else ""
        elif field.kind in {"id_list", "role_list"}:
            values[field.name] = " ".join(str(entry) for entry in node)
        else:
            values[field.name] = "" if node is None else str(node)
    return values


def _apply_form(
    current: VersionedConfig, section: str, fields: tuple[FormField, ...], form: MultiDict[str, str]
) -> GuildConfig:
    document = current.config.model_dump(mode="json")
    for field in fields:
        *parents, leaf = field.name.split(".")
        node = document[section]
        for part in parents:
            node = node[part]
        raw = _submitted(field, form)
        if field.kind == "bool":
            node[leaf] = bool(raw)
        elif field.kind in {"optional_int", "channel"}:
            node[leaf] = raw.strip() or None
        elif field.kind in {"id_list", "role_list"}:
            node[leaf] = [entry for entry in _ID_SEPARATORS.split(raw) if entry]
        else:
            node[leaf] = raw.strip() if field.kind != "textarea" else raw
    return GuildConfig.model_validate(document)


def _submitted(field: FormField, form: MultiDict[str, str]) -> str:
    """What the form sent for `field`, as the page shows it again."""
    if field.kind == "bool":
        return "on" if form.get(field.name) else ""
    if field.kind == "role_list":  # one value per ticked role, or one typed list of ids
        return " ".join(form.getlist(field.name))
    return form.get(field.name, "")


async def _unknown_picks(
    guild_id: int, new: GuildConfig, section: str, fields: tuple[FormField, ...]
) -> dict[str, list[str]]:
    """Errors for picked roles and channels that are not (or no longer) the guild's.

    Only where Discord could say what the guild has: typed ids are taken as they are.
    """
    data = new.model_dump(mode="json")[section]
    errors: dict[str, list[str]] = {}
    for field in fields:
        if field.kind not in {"role_list", "channel"}:
            continue
        node: typing.Any = data
        for part in field.name.split("."):
            node = node[part]
        picked = [node] if field.kind == "channel" and node is not None else node or []
        known = await _known_ids(guild_id, field.kind) if picked else None
        if known is None:
            continue
        for item in picked:
            if item not in known:
                errors.setdefault(field.name, []).append(_NOT_THE_GUILDS[field.kind].format(item))
    return errors


_NOT_THE_GUILDS: typing.Final = {
    "role_list": (
        "{} is not a role of this server that members can be given "
        "(deleted in Discord, or a bot's own role?); untick it"
    ),
    "channel": "{} is not a text channel of this server (deleted in Discord?); pick another",
}


async def _known_ids(guild_id: int, kind: str) -> set[int] | None:
    options: list[Option] | None = (
        await guild_roles(guild_id) if kind == "role_list" else await guild_text_channels(guild_id)
    )
    return None if options is None else {option.id for option in options}


def _entries_to_fields(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """An error about one entry of a list field (`name.2`) shown beside the field itself."""
    shown: dict[str, list[str]] = {}
    for name, messages in errors.items():
        entry = _LIST_ENTRY.match(name)
        if entry is None:
            shown.setdefault(name, []).extend(messages)
        else:
            position = int(entry["index"]) + 1
            shown.setdefault(entry["field"], []).extend(
                f"entry {position}: {message}" for message in messages
            )
    return shown


@blueprint.post("/guilds/<int:guild_id>/rewards")
@hide
async def add_level_reward(guild_id: int) -> BaseResponse | tuple[str, int]:
    form = await request.form
    submitted = {"level": form.get("level", ""), "role_id": form.get("role_id", "")}
    current = await read_config(guild_id)
    status, errors = 400, {}
    try:
        new = NewReward.model_validate({k: v.strip() for k, v in submitted.items()})
        roles = await guild_roles(guild_id)
        if roles is not None and new.role_id not in {role.id for role in roles}:
            raise APIError(
                400,
                "invalid_body",
                "not a role members can be given",
                fields={
                    "role_id": [
                        f"{new.role_id} is not a role of this server that members can be "
                        "given (deleted in Discord, or a bot's own role?)"
                    ]
                },
            )
        await add_reward(guild_id, new, current.config.xp.max_level, g.ts_session)
    except ValidationError as error:
        errors = field_errors(error)
    except APIError as error:
        status, errors = error.status, error.fields or {"_": [error.message]}
    if errors:
        values = _values(current.config, "levels")
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


@blueprint.post("/guilds/<int:guild_id>/rewards/<int:reward_id>/delete")
@hide
async def delete_level_reward(guild_id: int, reward_id: int) -> BaseResponse:
    await remove_reward(guild_id, reward_id, g.ts_session)
    return redirect(url_for("dashboard.show", guild_id=guild_id, page="levels", saved="1"), 303)
