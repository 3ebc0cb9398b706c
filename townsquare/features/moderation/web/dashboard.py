"""The moderation dashboard: the settings and automod pages (config forms, with the automod
page's "test a message" box and the presets), and the cases list and case page.

Same rules as every dashboard guild page: the session's user manages the guild (checked before
anything else), writes carry the CSRF token.
"""

from __future__ import annotations

import datetime
import typing
import uuid

from quart import g, redirect, render_template, request, url_for
from quart_schema import hide

from townsquare.core.guard.actions import Source
from townsquare.core.validation import parse_id
from townsquare.features.moderation.domain import cases
from townsquare.features.moderation.domain.automod_config import RULE_NAMES
from townsquare.features.moderation.domain.checks import matching_rules
from townsquare.features.moderation.domain.config import ModerationSection
from townsquare.features.moderation.domain.pardon import NothingToPardonError, pardon_case
from townsquare.features.moderation.domain.presets import PRESETS, apply_preset
from townsquare.features.moderation.domain.rules import Message
from townsquare.features.moderation.web.custom_rules import rules_context
from townsquare.features.moderation.web.rest import guard_context
from townsquare.http.access import managed_guilds
from townsquare.http.blueprints import dashboard_blueprint
from townsquare.http.config_changes import apply_change, read_config
from townsquare.http.config_forms import ConfigPage, FormField
from townsquare.http.errors import APIError

if typing.TYPE_CHECKING:
    from werkzeug.wrappers.response import Response as BaseResponse

    from townsquare.http.access import Session

__all__ = ["AUTOMOD_PAGE", "MODERATION_PAGE", "blueprint"]

blueprint = dashboard_blueprint(
    "moderation_dashboard", __name__, url_prefix="/dashboard/guilds/<id:guild_id>"
)

_ACTIONS: typing.Final = ("delete", "warn", "points", "timeout")
_CASE_TYPES: typing.Final = (
    "warn", "timeout", "untimeout", "kick", "ban", "unban", "purge", "note", "pardon",
    "offense", "delete", "strip_roles",
)  # fmt: skip
_TEST_TEXT_MAX: typing.Final = 2000


async def _presets(guild_id: int) -> dict[str, typing.Any]:
    section = (await read_config(guild_id)).config.section(ModerationSection)
    return {"presets": list(PRESETS), "preset": section.preset}


async def _test_box(guild_id: int) -> dict[str, typing.Any]:
    text = request.args.get("test", "")[:_TEST_TEXT_MAX]
    if not text:
        return {"test_text": "", "matches": None}
    section = (await read_config(guild_id)).config.section(ModerationSection)
    message = Message(guild_id, 1, 1, 1, 0, frozenset(), text, 0)
    return {"test_text": text, "matches": matching_rules(message, section.automod)}


async def _automod_extra(guild_id: int) -> dict[str, typing.Any]:
    return await rules_context(guild_id) | await _test_box(guild_id)


_NUKE_LIMITS: typing.Final = (
    ("channel_delete", "channels deleted"),
    ("channel_create", "channels created"),
    ("role_delete", "roles deleted"),
    ("role_create", "roles created"),
    ("ban", "bans"),
    ("kick", "kicks"),
    ("webhook_create", "webhooks created"),
    ("bot_add", "bots added"),
)

MODERATION_PAGE: typing.Final = ConfigPage(
    "moderation",
    "Moderation",
    "moderation",
    (
        FormField("log_channel_id", "Log channel", "channel", help="every action is posted here"),
        FormField("dm_members", "DM members about actions against them", "bool"),
        FormField("appeal_text", "Appeal text (in the DM)", "textarea"),
        FormField("dry_run", "Dry run: decide and log, execute nothing", "bool"),
        FormField("warn_points", "Points of a /warn", "int"),
        FormField("offense_expiry_days", "Offenses count for (days)", "int"),
        FormField(
            "points_half_life_days",
            "Points halve every (days)",
            "optional_int",
            help="empty: points count in full until they expire",
        ),
        *(
            FormField(f"moderator_roles.{action}", f"Moderator roles: {action}", "role_list")
            for action in ("warn", "timeout", "kick", "ban", "purge", "note")
        ),
        FormField("anti_abuse.max_actions", "Anti-abuse: kicks and bans allowed", "int"),
        FormField("anti_abuse.window_seconds", "... within (seconds)", "int"),
        FormField("anti_abuse.cooldown_seconds", "Blocked for (seconds) beyond it", "int"),
        FormField("anti_abuse.trusted_user_ids", "Anti-abuse: trusted users", "user_list"),
        FormField(
            "escalation",
            "Escalation ladder",
            "table",
            help="points, then warn, timeout, kick or ban, then a timeout's seconds (0 for "
            "the others); e.g. 3 timeout 600",
            columns=("offenses", "action", "duration_seconds"),
        ),
        FormField(
            "anti_raid.enabled",
            "Anti-raid",
            "bool",
            help="needs the Server Members intent when on in the deployment's defaults",
        ),
        FormField("anti_raid.joins", "Anti-raid: joins ...", "int"),
        FormField("anti_raid.window_seconds", "... within (seconds) start raid mode", "int"),
        FormField("anti_raid.account_age_days", "Accounts younger than (days) ...", "int"),
        FormField(
            "anti_raid.action",
            "... joining in raid mode get",
            "choice",
            ("timeout", "kick", "none"),
        ),
        FormField("anti_raid.timeout_seconds", "Their timeout (seconds)", "int"),
        FormField("anti_raid.quiet_seconds", "Raid mode ends after (seconds) without joins", "int"),
        FormField(
            "anti_nuke.enabled",
            "Anti-nuke",
            "bool",
            help="watches the audit log; the bot needs View Audit Log",
        ),
        FormField("anti_nuke.window_seconds", "Anti-nuke: within (seconds), more than ...", "int"),
        *(
            FormField(f"anti_nuke.limits.{name}", f"... {label}", "int")
            for name, label in _NUKE_LIMITS
        ),
        FormField(
            "anti_nuke.action",
            "... trips it: a member gets",
            "choice",
            ("strip_roles", "timeout", "kick"),
        ),
        FormField("anti_nuke.bot_action", "... a bot gets", "choice", ("kick", "strip_roles")),
        FormField("anti_nuke.timeout_seconds", "Their timeout (seconds)", "int"),
        FormField("anti_nuke.cooldown_seconds", "Not acted on again for (seconds)", "int"),
        FormField("anti_nuke.trusted_user_ids", "Anti-nuke: trusted users", "user_list"),
    ),
    extra_template="moderation/presets.html",
    extra_context=_presets,
)

AUTOMOD_PAGE: typing.Final = ConfigPage(
    "automod",
    "Automod",
    "moderation",
    (
        FormField("automod.enabled", "Run automod", "bool"),
        FormField("automod.block_links", "Links are an offense", "bool"),
        FormField("automod.max_mentions", "Most mentions in a message", "int"),
        FormField("automod.spam_messages", "Spam: messages ...", "int"),
        FormField("automod.spam_window_seconds", "... within (seconds)", "int"),
        FormField("automod.exempt_role_ids", "Roles never checked", "role_list"),
        FormField(
            "automod.banned_words",
            "Banned words and phrases",
            "lines",
            help="whole words; * matches any run of letters (scam*)",
        ),
        FormField("automod.link_allowed_domains", "Domains whose links are fine", "lines"),
        FormField("automod.link_denied_domains", "Domains whose links are an offense", "lines"),
        *(
            field
            for name in RULE_NAMES
            for field in (
                FormField(f"automod.rules.{name}.enabled", f"Rule {name}: on", "bool"),
                FormField(
                    f"automod.rules.{name}.action", f"Rule {name}: action", "choice", _ACTIONS
                ),
                FormField(f"automod.rules.{name}.points", f"Rule {name}: points", "int"),
            )
        ),
    ),
    extra_template="moderation/automod_extra.html",
    extra_context=_automod_extra,
)


@blueprint.post("/moderation/preset")
@hide
async def choose_preset(guild_id: int) -> BaseResponse:
    form = await request.form
    name = form.get("preset", "")
    if name not in PRESETS:
        raise APIError(400, "invalid_preset", f"choose one of {', '.join(PRESETS)}")
    current = await read_config(guild_id)
    section = apply_preset(current.config.section(ModerationSection), name)
    await apply_change(
        guild_id, current.config.with_section(section), current.version, g.ts_session
    )
    return redirect(url_for("dashboard.show", guild_id=guild_id, page="moderation", saved="1"), 303)


def _date(raw: str | None) -> datetime.datetime | None:
    if not raw:
        return None
    try:
        day = datetime.date.fromisoformat(raw)
    except ValueError:
        raise APIError(400, "invalid_query", f"{raw!r} is not a date (YYYY-MM-DD)") from None
    return datetime.datetime.combine(day, datetime.time(), datetime.UTC)


def _id(raw: str | None, what: str) -> int | None:
    if not raw:
        return None
    found = parse_id(raw.strip())
    if found is None:
        raise APIError(400, "invalid_query", f"{what} must be a Discord id")
    return found


async def _guild_name(guild_id: int) -> str:
    session: Session = g.ts_session
    found = next((entry for entry in await managed_guilds(session) if entry.id == guild_id), None)
    return found.name if found else str(guild_id)


@blueprint.get("/cases")
@hide
async def case_list(guild_id: int) -> str:
    args = request.args
    kind = args.get("type") or None
    if kind is not None and kind not in _CASE_TYPES:
        raise APIError(400, "invalid_query", f"type must be one of {', '.join(_CASE_TYPES)}")
    raw_page = args.get("page", "1")
    if not raw_page.isdecimal() or not 1 <= int(raw_page) <= 100_000:
        raise APIError(400, "invalid_query", "page must be a whole number from 1")
    until = _date(args.get("until"))
    where = cases.CaseFilter(
        target_id=_id(args.get("member"), "member"),
        actor_id=_id(args.get("moderator"), "moderator"),
        action=kind,
        since=_date(args.get("since")),
        until=until + datetime.timedelta(days=1) if until else None,
    )
    rows, pages = await cases.list_cases(guild_id, where, int(raw_page), page_size=25)
    return await render_template(
        "moderation/cases.html",
        user=g.ts_session,
        guild_id=guild_id,
        guild_name=await _guild_name(guild_id),
        cases=rows,
        page=int(raw_page),
        pages=pages,
        types=_CASE_TYPES,
        filters={k: args.get(k, "") for k in ("member", "moderator", "type", "since", "until")},
    )


@blueprint.get("/cases/<int:number>")
@hide
async def case_page(guild_id: int, number: int) -> tuple[str, int]:
    return await _case_page(guild_id, number), 200


async def _case_page(guild_id: int, number: int, notice: str = "") -> str:
    try:
        case = await cases.find_case(guild_id, number)
    except cases.CaseNotFoundError as error:
        raise APIError(404, "case_not_found", str(error)) from None
    return await render_template(
        "moderation/case.html",
        user=g.ts_session,
        guild_id=guild_id,
        guild_name=await _guild_name(guild_id),
        case=case,
        notice=notice,
        pardon_key=f"dashboard/{uuid.uuid4().hex}",
    )


@blueprint.post("/cases/<int:number>/pardon")
@hide
async def pardon(guild_id: int, number: int) -> tuple[str, int]:
    """Pardon from the case page: through the guard, as the dashboard's user (source
    `dashboard`); the form's key makes a resubmitted form one pardon."""
    form = await request.form
    key = form.get("key", "")
    if not key.startswith("dashboard/") or not 11 <= len(key) <= 60:
        raise APIError(400, "invalid_form", "the form has no valid key; reload the page")
    section = (await read_config(guild_id)).config.section(ModerationSection)
    session: Session = g.ts_session
    try:
        enforced = await pardon_case(
            await guard_context(section),
            section,
            guild_id,
            number,
            source=Source.DASHBOARD,
            actor=(session.user_id, session.username),
            key=key,
            reason=form.get("reason", "")[:500],
        )
    except cases.CaseNotFoundError as error:
        raise APIError(404, "case_not_found", str(error)) from None
    except NothingToPardonError as error:
        raise APIError(409, "nothing_to_pardon", str(error)) from None
    outcome = enforced.outcome
    if not outcome.done:
        return await _case_page(guild_id, number, f"Not pardoned: {outcome.detail}."), 403
    return await _case_page(guild_id, number, f"Pardoned (case {outcome.case_number})."), 200
