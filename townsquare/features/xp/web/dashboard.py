"""The XP feature's dashboard pages: XP settings, and level rewards and notices (flow 9).

The two config pages are served by the dashboard (`PAGES` in :mod:`townsquare.features.xp.web`);
here are the level-reward forms shown below the levels page. Their rules (highest level, at
most 100, no duplicate, the audit entry) are the domain's (:mod:`..domain.rewards`).
"""

from __future__ import annotations

import typing

from pydantic import ValidationError
from quart import g, request
from quart_schema import hide

from townsquare.core.audit.models import ActorKind
from townsquare.core.audit.service import Actor
from townsquare.core.premium import PremiumRefused
from townsquare.features.xp.domain.config import XPSection
from townsquare.features.xp.domain.errors import RewardError
from townsquare.features.xp.domain.rewards import (
    NewReward,
    add_reward,
    dangerous_permissions,
    list_rewards,
    remove_reward,
    reward_role_error,
)
from townsquare.http.blueprints import dashboard_blueprint
from townsquare.http.config_changes import read_config, role_facts
from townsquare.http.config_forms import ConfigPage, FormField, form_values
from townsquare.http.dashboard import config_page, page_saved, render_page
from townsquare.http.errors import APIError, field_errors
from townsquare.http.guild_lookups import Option, guild_role_facts
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from werkzeug.wrappers.response import Response as BaseResponse

    from townsquare.http.access import Session

__all__ = ["LEVELS_PAGE", "XP_PAGE", "blueprint", "reward_api_error", "session_actor"]

blueprint = dashboard_blueprint("xp_dashboard", __name__)


def session_actor(session: Session) -> Actor:
    """The dashboard user, as the audit log names them."""
    return Actor(ActorKind.USER, session.user_id, session.username)


def reward_api_error(error: RewardError) -> APIError:
    """The API's answer to a refused reward change."""
    return APIError(error.status, error.code, error.message, error.fields)


async def _rewards(guild_id: int) -> dict[str, typing.Any]:
    return {
        "rewards": await list_rewards(guild_id),
        "reward_roles": await _reward_roles(guild_id),
        "max_level": (await read_config(guild_id)).config.section(XPSection).max_level,
    }


async def _reward_roles(guild_id: int) -> list[Option]:
    """The roles the reward form offers: those the bot can give (the domain's rule), each
    named with the dangerous permissions it grants, if any (adding one asks to confirm)."""
    facts = await guild_role_facts(guild_id)
    if facts is None:
        return []
    offered = []
    for role in facts.assignable():
        if reward_role_error(role.id, facts):
            continue
        dangerous = dangerous_permissions(role.permissions)
        offered.append(
            Option(role.id, f"{role.name} (grants {dangerous})" if dangerous else role.name)
        )
    return offered


CURVE_LABELS: typing.Final = (
    ("mee6", "Classic: each level takes a little more XP than the one before"),
    ("linear", "Even: every level takes the same XP"),
    ("table", "Custom: a table of XP per level (set through the API)"),
)
"""The XP pages' labels, beside their choices' values (`XPSection`, `LevelsSection`)."""
REWARD_MODE_LABELS: typing.Final = (
    ("stack", "Keep every reward role"),
    ("replace", "Keep only the highest reward role"),
)
NOTICE_MODE_LABELS: typing.Final = (
    ("current_channel", "In the channel where they leveled up"),
    ("channel", "In one channel (pick it below)"),
    ("dm", "By direct message"),
    ("off", "No notice"),
)

XP_PAGE: typing.Final = ConfigPage(
    "xp",
    "XP settings",
    "xp",
    (
        FormField(
            "enabled",
            "Award XP for messages",
            "bool",
            help="Off: nobody earns XP for messages; levels and rewards already earned stay.",
        ),
        FormField(
            "per_message_min",
            "Smallest XP per message",
            "int",
            help="Each counted message earns a random amount between the smallest and the largest.",
        ),
        FormField(
            "per_message_max",
            "Largest XP per message",
            "int",
            help="At least the smallest amount above.",
        ),
        FormField(
            "cooldown_seconds",
            "Cooldown (seconds)",
            "int",
            help="After a message earns XP, the member's next messages earn nothing for this long, "
            "so spamming does not pay.",
        ),
        FormField(
            "max_level",
            "Highest level",
            "int",
            help="Nobody levels past this; XP keeps counting on the leaderboard.",
        ),
        FormField(
            "curve.kind",
            "How much XP each level takes",
            "choice",
            CURVE_LABELS,
            help="Classic is the curve members of the best-known leveling bots are used to.",
        ),
        FormField(
            "curve.linear_step",
            "XP per level (even curve only)",
            "int",
            help="Used only when every level takes the same XP.",
        ),
        FormField(
            "voice.enabled",
            "Award XP in voice channels",
            "bool",
            help="Members earn XP for each full minute they spend talking with others.",
        ),
        FormField(
            "voice.xp_per_minute",
            "Voice XP per minute",
            "int",
            help="XP for each full minute in a voice channel with enough members.",
        ),
        FormField(
            "voice.count_self_muted",
            "Self-muted members earn voice XP",
            "bool",
            help="Off: members who muted themselves earn nothing while muted.",
        ),
        FormField(
            "voice.min_members",
            "Members a voice channel needs",
            "int",
            help="Nobody earns voice XP alone: a channel needs this many people (bots and "
            "deafened members not counted).",
        ),
    ),
)
LEVELS_PAGE: typing.Final = ConfigPage(
    "levels",
    "Level rewards and notices",
    "levels",
    (
        FormField(
            "reward_mode",
            "Reward roles a member keeps",
            "choice",
            REWARD_MODE_LABELS,
            "When a member reaches a new reward role: keep the earlier ones too, or swap them "
            "for the new one.",
        ),
        FormField(
            "notice.mode",
            "Where the level-up message goes",
            "choice",
            NOTICE_MODE_LABELS,
            "The message that congratulates a member on a new level.",
        ),
        FormField(
            "notice.channel_id",
            "Level-up channel",
            "channel",
            help="Needed only when level-up messages go to one channel.",
        ),
        FormField(
            "notice.template",
            "Level-up message",
            "textarea",
            help="{user}, {level} and {guild} are replaced by the member, the new level and the "
            "server's name. Roles and @everyone are never pinged.",
        ),
        FormField(
            "public_leaderboard",
            "Public leaderboard page",
            "bool",
            help="Anyone with the link may see members' names, avatars, levels and XP at "
            "/leaderboard/<this server's id>",
        ),
    ),
    extra_template="xp/level_rewards.html",
    extra_context=_rewards,
    picks_roles=True,
)


@blueprint.post("/guilds/<id:guild_id>/rewards")
@hide
async def add_level_reward(guild_id: int) -> BaseResponse | tuple[str, int]:
    form = await request.form
    submitted = {"level": form.get("level", ""), "role_id": form.get("role_id", "")}
    confirmed = bool(form.get("confirm_dangerous"))
    current = await read_config(guild_id)
    status, errors, added = 400, {}, None
    try:
        new = NewReward.model_validate(
            {k: v.strip() for k, v in submitted.items()} | {"confirm_dangerous": confirmed}
        )
        roles = await role_facts(guild_id, when_unknown="accept")
        actor = session_actor(g.ts_session)
        max_level = current.config.section(XPSection).max_level
        gate = state().require_gate()
        added = await add_reward(guild_id, new, max_level, actor, roles=roles, gate=gate)
    except ValidationError as invalid:
        errors = field_errors(invalid)
    except PremiumRefused as refused:
        status, errors = 402, {"_": [f"{refused.verdict.explain()} See the premium page."]}
    except (RewardError, APIError) as refused:
        shown = reward_api_error(refused) if isinstance(refused, RewardError) else refused
        status, errors = shown.status, shown.fields or {"_": [shown.message]}
        if shown.code == "dangerous_role":  # the form then asks for the confirmation
            submitted["confirm"] = shown.message
    if errors:
        values = form_values(current.config, config_page(LEVELS_PAGE.name))
        page = await render_page(
            guild_id,
            LEVELS_PAGE.name,
            current.version,
            values,
            {},
            extra_errors=errors,
            extra_values=submitted,
        )
        return page, status
    return page_saved(guild_id, LEVELS_PAGE.name, reward_added=str(added.id if added else ""))


@blueprint.post("/guilds/<id:guild_id>/rewards/<id:reward_id>/delete")
@hide
async def delete_level_reward(guild_id: int, reward_id: int) -> BaseResponse:
    try:
        await remove_reward(guild_id, reward_id, session_actor(g.ts_session))
    except RewardError as refused:
        raise reward_api_error(refused) from None
    return page_saved(guild_id, LEVELS_PAGE.name, reward_removed="1")
