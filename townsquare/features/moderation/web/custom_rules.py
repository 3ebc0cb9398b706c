"""The automod page's editor for the guild's custom rules (word lists and RE2 regexes): list,
add, edit and delete, below the page's form.

Each change is one change of the whole configuration, checked as the API checks it
(`PUT /api/v1/guilds/{id}/config`): the schema (so a pattern RE2 refuses is refused with its
reason, beside the patterns), the references, the premium counts (`automod.custom_rules`,
`automod.regex_rules`: 402 with the upgrade message) and the version the form was loaded at
(409 when someone saved since, showing the current rules). A rule is named in the URL by its
position at that version, so a stale position never reaches a different rule.
"""

from __future__ import annotations

import re
import typing

from pydantic import ValidationError
from quart import g, request
from quart_schema import hide

from townsquare.core.features import guild_config_model
from townsquare.core.premium import PremiumRefused
from townsquare.features.moderation.domain.config import ModerationSection
from townsquare.features.moderation.web.labels import (
    CUSTOM_RULE_ACTION_LABELS,
    CUSTOM_RULE_KIND_LABELS,
)
from townsquare.http.blueprints import dashboard_blueprint
from townsquare.http.config_changes import apply_change, read_config, reference_problems
from townsquare.http.config_forms import form_values
from townsquare.http.dashboard import config_page, page_saved, render_page
from townsquare.http.errors import APIError, field_errors
from townsquare.http.guild_lookups import guild_text_channels

if typing.TYPE_CHECKING:
    from werkzeug.datastructures import MultiDict
    from werkzeug.wrappers.response import Response as BaseResponse

    from townsquare.core.config.schemas import GuildConfig
    from townsquare.core.config.service import VersionedConfig

__all__ = ["PAGE", "RULE_FIELDS", "blueprint", "rules_context"]

blueprint = dashboard_blueprint(
    "moderation_rules", __name__, url_prefix="/dashboard/guilds/<id:guild_id>/automod/rules"
)

PAGE: typing.Final = "automod"
RULE_FIELDS: typing.Final = (
    "name", "kind", "patterns", "enabled", "action", "points", "timeout_seconds",
    "exempt_role_ids", "exempt_channel_ids",
)  # fmt: skip
"""The editor's inputs. The exemptions are ticked boxes (or ids typed with spaces or commas
when Discord cannot list the guild's roles or channels)."""
_ID_LISTS: typing.Final = ("exempt_role_ids", "exempt_channel_ids")
_ID_SEPARATORS: typing.Final = re.compile(r"[\s,]+")
_RULES_PATH: typing.Final = "moderation.automod.custom_rules"
_ENTRY: typing.Final = re.compile(r"^(?P<field>[a-z_]+)(?:\.(?P<index>\d+))?$")


async def rules_context(guild_id: int) -> dict[str, typing.Any]:
    """The custom rules as the page lists them (the page's extra part)."""
    section = (await read_config(guild_id)).config.section(ModerationSection)
    return {
        "custom_rules": [rule.model_dump(mode="json") for rule in section.automod.custom_rules],
        "kind_labels": CUSTOM_RULE_KIND_LABELS,
        "action_labels": CUSTOM_RULE_ACTION_LABELS,
        "channels": await guild_text_channels(guild_id),
    }


def _submitted(form: MultiDict[str, str]) -> dict[str, str]:
    values = {name: form.get(name, "") for name in RULE_FIELDS}
    values["enabled"] = "on" if form.get("enabled") else ""
    for name in _ID_LISTS:  # ticked boxes, or one box of typed ids
        values[name] = " ".join(
            part for entry in form.getlist(name) for part in _ID_SEPARATORS.split(entry) if part
        )
    return values


def _rule(values: dict[str, str], settings: dict[str, typing.Any]) -> dict[str, typing.Any]:
    """The rule's JSON from the form (the schema judges it, with the API's messages)."""
    return {
        "name": values["name"].strip(),
        "kind": values["kind"],
        "patterns": [line.strip() for line in values["patterns"].splitlines() if line.strip()],
        "settings": settings
        | {
            "enabled": bool(values["enabled"]),
            "action": values["action"],
            "points": values["points"].strip(),
            "timeout_seconds": values["timeout_seconds"].strip(),
        }
        | {name: values[name].split() for name in _ID_LISTS},
    }


def _errors(errors: dict[str, list[str]], index: int) -> dict[str, list[str]]:
    """Errors keyed by dotted path in the document, keyed as the rule form names its inputs:
    the rule's own fields beside them (a pattern RE2 refuses beside the patterns), anything
    else at the top of the editor."""
    shown: dict[str, list[str]] = {}
    own = f"{_RULES_PATH}.{index}"
    for dotted, found in errors.items():
        where, messages = "_", found
        if dotted == own:  # the rule's own validator: a pattern RE2 refuses
            where = "patterns"
        elif dotted.startswith(own + "."):
            rest = dotted.removeprefix(own + ".").removeprefix("settings.")
            entry = _ENTRY.match(rest)
            if entry is not None and entry["field"] in RULE_FIELDS:
                where = entry["field"]
                if entry["index"] is not None:
                    place = "id" if where in _ID_LISTS else "line"
                    messages = [f"{place} {int(entry['index']) + 1}: {m}" for m in messages]
        elif dotted == _RULES_PATH and any("name" in m for m in messages):
            where = "name"
        shown.setdefault(where, []).extend(messages)
    return shown


async def _save(
    guild_id: int,
    form_id: str,
    values: dict[str, str],
    change: typing.Callable[[list[dict[str, typing.Any]]], int],
) -> BaseResponse | tuple[str, int]:
    """Apply `change` (which edits the rules' JSON in place and says which entry it touched)
    to the configuration the form was loaded at; the page again with why, when refused."""
    form = await request.form
    current = await read_config(guild_id)
    spec = config_page(PAGE)
    shown = {"form": form_id, **values}

    async def again(
        version: int, status: int, errors: dict[str, list[str]], conflict: str = ""
    ) -> tuple[str, int]:
        latest = current if not conflict else await read_config(guild_id)
        page = await render_page(
            guild_id,
            PAGE,
            version,
            form_values(latest.config, spec),
            {},
            conflict=conflict,
            extra_errors=errors,
            extra_values=shown if not conflict else {},
        )
        return page, status

    try:
        expected = int(form.get("expected_version", ""))
    except ValueError:
        return await again(current.version, 400, {"_": ["the form has no version; reload it"]})
    if expected != current.version:
        return await _conflict(guild_id, again)
    document = current.config.model_dump(mode="json")
    rules: list[dict[str, typing.Any]] = document["moderation"]["automod"]["custom_rules"]
    new = await _checked(guild_id, current, document, change(rules))
    if isinstance(new, dict):
        return await again(expected, 400, new)
    try:
        await apply_change(guild_id, new, expected, g.ts_session)
    except PremiumRefused as refused:
        message = f"{refused.verdict.explain()} See the premium page."
        return await again(expected, 402, {"_": [message]})
    except APIError as error:
        if error.code != "version_conflict":
            raise
        return await _conflict(guild_id, again)
    return page_saved(guild_id, PAGE)


async def _checked(
    guild_id: int, current: VersionedConfig, document: dict[str, typing.Any], index: int
) -> GuildConfig | dict[str, list[str]]:
    """`document` validated as the API validates a change (schema, then references), or the
    errors as the rule's form shows them."""
    try:
        new: GuildConfig = guild_config_model().model_validate(document)
    except ValidationError as invalid:
        return _errors(field_errors(invalid), index)
    problems = await reference_problems(guild_id, current.config, new, when_unknown="accept")
    return _errors(problems, index) if problems else new


async def _conflict(
    guild_id: int,
    again: typing.Callable[..., typing.Awaitable[tuple[str, int]]],
) -> tuple[str, int]:
    latest: VersionedConfig = await read_config(guild_id)
    message = (
        "Someone saved this server's settings after this page was loaded; nothing was changed."
    )
    return await again(latest.version, 409, {}, message)


def _existing(rules: list[dict[str, typing.Any]], index: int) -> dict[str, typing.Any]:
    if not 0 <= index < len(rules):
        raise APIError(
            404, "rule_not_found", f"there is no custom rule {index + 1}; reload the page"
        )
    return rules[index]


@blueprint.post("")
@hide
async def add_rule(guild_id: int) -> BaseResponse | tuple[str, int]:
    """A new custom rule, at the end."""
    values = _submitted(await request.form)

    def add(rules: list[dict[str, typing.Any]]) -> int:
        rules.append(_rule(values, {}))
        return len(rules) - 1

    return await _save(guild_id, "new", values, add)


@blueprint.post("/<int:index>")
@hide
async def edit_rule(guild_id: int, index: int) -> BaseResponse | tuple[str, int]:
    """The rule at `index` (at the form's version) with the form's values."""
    values = _submitted(await request.form)

    def edit(rules: list[dict[str, typing.Any]]) -> int:
        rules[index] = _rule(values, _existing(rules, index)["settings"])
        return index

    return await _save(guild_id, str(index), values, edit)


@blueprint.post("/<int:index>/delete")
@hide
async def delete_rule(guild_id: int, index: int) -> BaseResponse | tuple[str, int]:
    def delete(rules: list[dict[str, typing.Any]]) -> int:
        _existing(rules, index)
        del rules[index]
        return index

    return await _save(guild_id, str(index), {}, delete)
