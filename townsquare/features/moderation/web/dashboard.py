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
from townsquare.features.moderation.web.labels import (
    CASE_TYPE_LABELS,
    NUKE_ACTION_LABELS,
    NUKE_BOT_ACTION_LABELS,
    PRESET_LABELS,
    RAID_ACTION_LABELS,
    RULE_ACTION_LABELS,
    RULE_LABELS,
)
from townsquare.features.moderation.web.rest import guard_context
from townsquare.http.access import managed_guild
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

_CASE_TYPES: typing.Final = (
    "warn", "timeout", "untimeout", "kick", "ban", "unban", "purge", "note", "pardon",
    "offense", "delete", "strip_roles",
)  # fmt: skip
_TEST_TEXT_MAX: typing.Final = 2000


async def _presets(guild_id: int) -> dict[str, typing.Any]:
    section = (await read_config(guild_id)).config.section(ModerationSection)
    return {
        "presets": [(name, PRESET_LABELS.get(name, name)) for name in PRESETS],
        "preset": section.preset,
        "preset_label": PRESET_LABELS.get(section.preset, section.preset),
    }


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
MODERATOR_ACTIONS: typing.Final = (
    ("warn", "warn", "/warn and /pardon"),
    ("timeout", "time out", "/timeout and /untimeout"),
    ("kick", "kick", "/kick"),
    ("ban", "ban", "/ban and /unban"),
    ("purge", "purge", "/purge (delete many messages at once)"),
    ("note", "note", "/note (a private note on a member's record)"),
)
"""The moderator roles' fields: (action, the verb their label says, the commands it allows)."""
MODERATION_PAGE: typing.Final = ConfigPage(
    "moderation",
    "Moderation",
    "moderation",
    (
        FormField(
            "log_channel_id",
            "Log channel",
            "channel",
            help="Every moderation action and alert is posted here.",
        ),
        FormField(
            "dm_members",
            "Tell members by direct message about actions against them",
            "bool",
            help="The message says what happened and why, with the appeal text below.",
        ),
        FormField(
            "appeal_text",
            "How to appeal (sent in that message)",
            "textarea",
            help="E.g. where to write to appeal. Empty: nothing is added.",
        ),
        FormField(
            "dry_run",
            "Practice mode: decide and log, do nothing",
            "bool",
            help="Every action is decided and logged as if taken, but nobody is warned, timed "
            "out, kicked or banned. Handy while you tune the settings.",
        ),
        FormField(
            "warn_points",
            "Offense points of a /warn",
            "int",
            help="Points add up towards the escalation ladder below.",
        ),
        FormField(
            "offense_expiry_days",
            "Offenses count for (days)",
            "int",
            help="Older offenses no longer count towards escalation.",
        ),
        FormField(
            "points_half_life_days",
            "Points halve every (days)",
            "optional_int",
            help="Empty: points count in full until they expire.",
        ),
        *(
            FormField(
                f"moderator_roles.{action}",
                f"Roles that may {verb} members",
                "role_list",
                help=f"Members with any of these roles may use {commands}, besides members "
                "with the matching Discord permission.",
            )
            for action, verb, commands in MODERATOR_ACTIONS
        ),
        FormField(
            "anti_abuse.max_actions",
            "Moderator safety: kicks and bans allowed ...",
            "int",
            help="A moderator who kicks or bans more than this is stopped.",
        ),
        FormField(
            "anti_abuse.window_seconds",
            "... within (seconds)",
            "int",
            help="Counted over this many seconds; the owner is never stopped.",
        ),
        FormField(
            "anti_abuse.cooldown_seconds",
            "... and blocked for (seconds)",
            "int",
            help="How long such a moderator may not kick or ban.",
        ),
        FormField(
            "anti_abuse.trusted_user_ids",
            "Moderator safety: trusted users",
            "user_list",
            help="Never stopped by the limit above (the owner always is trusted).",
        ),
        FormField(
            "escalation",
            "Escalation ladder",
            "table",
            help="Offense points, then warn, timeout, kick or ban, then a timeout's seconds "
            "(0 for the others); e.g. 3 timeout 600",
            columns=("offenses", "action", "duration_seconds"),
        ),
        FormField(
            "anti_raid.enabled",
            "Raid protection",
            "bool",
            help="Notices many members joining at once and deals with new accounts. Needs "
            "Discord's Server Members intent for the bot.",
        ),
        FormField(
            "anti_raid.joins",
            "Raid protection: joins ...",
            "int",
            help="This many members joining close together start raid mode.",
        ),
        FormField(
            "anti_raid.window_seconds",
            "... within (seconds) start raid mode",
            "int",
            help="Counted over this many seconds.",
        ),
        FormField(
            "anti_raid.account_age_days",
            "In raid mode, accounts younger than (days) ...",
            "int",
            help="Zero: every member who joins in raid mode.",
        ),
        FormField(
            "anti_raid.action",
            "... get",
            "choice",
            RAID_ACTION_LABELS,
            help="What happens to those new accounts while raid mode lasts.",
        ),
        FormField(
            "anti_raid.timeout_seconds",
            "Their timeout (seconds)",
            "int",
            help="Used when they get a timeout.",
        ),
        FormField(
            "anti_raid.quiet_seconds",
            "Raid mode ends after (seconds) without joins",
            "int",
            help="Raid mode ends once nobody has joined for this long.",
        ),
        FormField(
            "anti_nuke.enabled",
            "Nuke protection",
            "bool",
            help="Stops anyone (a member or a bot) who deletes or creates many channels, roles "
            "or bans at once. The bot needs View Audit Log.",
        ),
        FormField(
            "anti_nuke.window_seconds",
            "Nuke protection: within (seconds), more than ...",
            "int",
            help="The limits below count within this many seconds.",
        ),
        *(
            FormField(
                f"anti_nuke.limits.{name}",
                f"... {label}",
                "int",
                help=f"More {label} than this within the time above trips the protection.",
            )
            for name, label in _NUKE_LIMITS
        ),
        FormField(
            "anti_nuke.action",
            "... trips it: a member gets",
            "choice",
            NUKE_ACTION_LABELS,
            help="Discord cannot time out an administrator.",
        ),
        FormField(
            "anti_nuke.bot_action",
            "... a bot gets",
            "choice",
            NUKE_BOT_ACTION_LABELS,
            help="A bot's own role cannot be taken away from it.",
        ),
        FormField(
            "anti_nuke.timeout_seconds",
            "Their timeout (seconds)",
            "int",
            help="Used when a member gets a timeout.",
        ),
        FormField(
            "anti_nuke.cooldown_seconds",
            "Not acted on again for (seconds)",
            "int",
            help="After tripping it, the same person's changes are left alone this long.",
        ),
        FormField(
            "anti_nuke.trusted_user_ids",
            "Nuke protection: trusted users",
            "user_list",
            help="Never counted (the owner and Townsquare itself never are).",
        ),
    ),
    extra_template="moderation/presets.html",
    extra_context=_presets,
)

AUTOMOD_PAGE: typing.Final = ConfigPage(
    "automod",
    "Automod",
    "moderation",
    (
        FormField(
            "automod.enabled",
            "Run automod",
            "bool",
            help="Checks every message against the rules below.",
        ),
        FormField(
            "automod.block_links",
            "Links are an offense",
            "bool",
            help="Except links to the domains allowed below.",
        ),
        FormField(
            "automod.max_mentions",
            "Most mentions in a message",
            "int",
            help="More members or roles mentioned in one message is an offense.",
        ),
        FormField(
            "automod.spam_messages",
            "Spam: messages ...",
            "int",
            help="This many messages by one member close together are spam.",
        ),
        FormField(
            "automod.spam_window_seconds",
            "... within (seconds)",
            "int",
            help="Counted over this many seconds.",
        ),
        FormField(
            "automod.exempt_role_ids",
            "Roles never checked",
            "role_list",
            help="Members with any of these roles are never checked (e.g. your moderators).",
        ),
        FormField(
            "automod.banned_words",
            "Banned words and phrases",
            "lines",
            help="Whole words; * matches any run of letters (scam*).",
        ),
        FormField(
            "automod.link_allowed_domains",
            "Domains whose links are fine",
            "lines",
            help="E.g. youtube.com; their subdomains are fine too.",
        ),
        FormField(
            "automod.link_denied_domains",
            "Domains whose links are an offense",
            "lines",
            help="Even where links are allowed.",
        ),
        *(
            field
            for name in RULE_NAMES
            for field in (
                FormField(
                    f"automod.rules.{name}.enabled",
                    f"{RULE_LABELS.get(name, name)}: check",
                    "bool",
                    help="Off: this rule is never checked.",
                ),
                FormField(
                    f"automod.rules.{name}.action",
                    f"{RULE_LABELS.get(name, name)}: what happens",
                    "choice",
                    RULE_ACTION_LABELS,
                    help="What automod does to a message that breaks this rule.",
                ),
                FormField(
                    f"automod.rules.{name}.points",
                    f"{RULE_LABELS.get(name, name)}: offense points",
                    "int",
                    help="Added towards the escalation ladder (0: none).",
                ),
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
    found = await managed_guild(session, guild_id)
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
        types=[(kind, CASE_TYPE_LABELS.get(kind, kind)) for kind in _CASE_TYPES],
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
