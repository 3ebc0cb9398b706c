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
    return {"rewards": await list_rewards(guild_id), "reward_roles": await _reward_roles(guild_id)}


async def _reward_roles(guild_id: int) -> list[Option]:
    """The roles the reward form offers: those the bot can give (the domain's rule)."""
    facts = await guild_role_facts(guild_id)
    if facts is None:
        return []
    return [Option(r.id, r.name) for r in facts.assignable() if not reward_role_error(r.id, facts)]


XP_PAGE: typing.Final = ConfigPage(
    "xp",
    "XP settings",
    "xp",
    (
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
            ("stack", "replace"),
            "stack keeps every reward role; replace keeps only the highest",
        ),
        FormField(
            "notice.mode",
            "Level-up notice",
            "choice",
            ("current_channel", "channel", "dm", "off"),
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
        FormField(
            "public_leaderboard",
            "Public leaderboard page",
            "bool",
            help="anyone with the link may see members' names, avatars, levels and XP at "
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
    current = await read_config(guild_id)
    status, errors = 400, {}
    try:
        new = NewReward.model_validate({k: v.strip() for k, v in submitted.items()})
        roles = await role_facts(guild_id, when_unknown="accept")
        actor = session_actor(g.ts_session)
        max_level = current.config.section(XPSection).max_level
        await add_reward(guild_id, new, max_level, actor, roles=roles, gate=state().require_gate())
    except ValidationError as invalid:
        errors = field_errors(invalid)
    except PremiumRefused as refused:
        status, errors = 402, {"_": [f"{refused.verdict.explain()} See the premium page."]}
    except (RewardError, APIError) as refused:
        shown = reward_api_error(refused) if isinstance(refused, RewardError) else refused
        status, errors = shown.status, shown.fields or {"_": [shown.message]}
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
    return page_saved(guild_id, LEVELS_PAGE.name)


@blueprint.post("/guilds/<id:guild_id>/rewards/<id:reward_id>/delete")
@hide
async def delete_level_reward(guild_id: int, reward_id: int) -> BaseResponse:
    try:
        await remove_reward(guild_id, reward_id, session_actor(g.ts_session))
    except RewardError as refused:
        raise reward_api_error(refused) from None
    return page_saved(guild_id, LEVELS_PAGE.name)
