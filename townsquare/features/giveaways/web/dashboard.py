"""The giveaways' dashboard pages: create or schedule, list (running, claiming, ended), and
one giveaway in detail (entries over time, winners, claims, rerolls, the draw proof).

Same rules as every dashboard guild page (the session's user manages the guild; every POST
carries the CSRF token). Creating goes through the same path as `/giveaway start`
(`web/common.py`: the premium limits, then the domain); a premium refusal is the dashboard's
402 page naming the limit.
"""

from __future__ import annotations

import datetime
import typing

from pydantic import ValidationError
from quart import g, redirect, render_template, request, url_for
from quart_schema import hide

from townsquare.features.giveaways.domain.clock import CLOCK
from townsquare.features.giveaways.domain.durations import DurationError, parse_duration
from townsquare.features.giveaways.domain.entries import entry_count
from townsquare.features.giveaways.domain.models import (
    Giveaway,
    GiveawayEntry,
    GiveawayPick,
    GiveawayState,
)
from townsquare.features.giveaways.domain.proof import verify_draw
from townsquare.features.giveaways.domain.requirements import Requirements
from townsquare.features.giveaways.domain.service import (
    MAX_CLAIM_WINDOW_SECONDS,
    MAX_DURATION_SECONDS,
    MIN_DURATION_SECONDS,
    GiveawaySpec,
    guild_giveaways,
    slot_summaries,
)
from townsquare.features.giveaways.web.common import create
from townsquare.http.access import managed_guild
from townsquare.http.blueprints import dashboard_blueprint
from townsquare.http.errors import APIError, field_errors
from townsquare.http.guild_lookups import guild_roles, guild_text_channels
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from werkzeug.datastructures import MultiDict
    from werkzeug.wrappers.response import Response as BaseResponse

    from townsquare.http.access import Session

__all__ = ["blueprint"]

ROLES_MODE_LABELS: typing.Final = (
    ("any", "Any one of the required roles"),
    ("all", "All of the required roles"),
)
"""The giveaway form's words for `required_roles_mode` (`Requirements`)."""

blueprint = dashboard_blueprint(
    "giveaways", __name__, url_prefix="/dashboard/guilds/<id:guild_id>/giveaways"
)

_GROUPS: typing.Final = (
    ("Running and scheduled", (GiveawayState.SCHEDULED, GiveawayState.RUNNING)),
    ("Waiting for claims", (GiveawayState.DRAWING, GiveawayState.CLAIMING)),
    ("Ended", (GiveawayState.ENDED, GiveawayState.CANCELLED)),
)
_TEN_YEARS: typing.Final = 10 * 365 * 86_400


async def _guild_name(guild_id: int) -> str:
    session: Session = g.ts_session
    guild = await managed_guild(session, guild_id)
    return guild.name if guild else str(guild_id)


async def _render_list(
    guild_id: int,
    *,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, str] | None = None,
) -> str:
    found = await guild_giveaways(guild_id, limit=100)
    groups = [(title, [g_ for g_ in found if g_.state in states]) for title, states in _GROUPS]
    return await render_template(
        "giveaways/list.html",
        user=g.ts_session,
        guild_id=guild_id,
        guild_name=await _guild_name(guild_id),
        groups=groups,
        roles=await guild_roles(guild_id) or [],
        channels=await guild_text_channels(guild_id) or [],
        errors=errors or {},
        values=values or {},
        mode_labels=ROLES_MODE_LABELS,
    )


@blueprint.get("")
@hide
async def listing(guild_id: int) -> str:
    return await _render_list(guild_id)


def _seconds(
    form: MultiDict[str, str],
    name: str,
    errors: dict[str, list[str]],
    *,
    minimum: int,
    maximum: int,
) -> int | None:
    text = form.get(name, "").strip()
    if not text:
        return None
    try:
        return parse_duration(text, minimum=minimum, maximum=maximum)
    except DurationError as error:
        errors.setdefault(name, []).append(str(error))
        return None


def _ids(form: MultiDict[str, str], name: str) -> list[str]:
    return [value for value in form.getlist(name) if value.strip()]


def _spec(
    form: MultiDict[str, str], host_id: int
) -> tuple[GiveawaySpec | None, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    duration = _seconds(
        form, "duration", errors, minimum=MIN_DURATION_SECONDS, maximum=MAX_DURATION_SECONDS
    )
    if duration is None and "duration" not in errors:
        errors["duration"] = ["how long it runs, e.g. 30m, 2h, 1d"]
    starts_at: datetime.datetime | None = None
    raw_start = form.get("starts_at", "").strip()
    if raw_start:
        try:
            starts_at = datetime.datetime.fromisoformat(raw_start).replace(tzinfo=datetime.UTC)
        except ValueError:
            errors["starts_at"] = ["a date and time (UTC), e.g. 2030-01-31T18:00"]
    claim = _seconds(form, "claim_window", errors, minimum=30, maximum=MAX_CLAIM_WINDOW_SECONDS)
    account_age = _seconds(form, "account_age", errors, minimum=1, maximum=_TEN_YEARS)
    member_for = _seconds(form, "member_for", errors, minimum=1, maximum=_TEN_YEARS)
    if errors:
        return None, errors
    try:
        spec = GiveawaySpec.model_validate(
            {
                "prize": form.get("prize", "").strip(),
                "duration_seconds": duration,
                "winners": form.get("winners", "1").strip() or "1",
                "channel_id": form.get("channel_id", "").strip(),
                "host_id": host_id,
                "claim_window_seconds": claim,
                "max_rerolls": form.get("max_rerolls", "").strip() or None,
                "starts_at": starts_at,
                "requirements": {
                    "required_role_ids": _ids(form, "required_role_ids"),
                    "required_roles_mode": form.get("required_roles_mode", "any"),
                    "excluded_role_ids": _ids(form, "excluded_role_ids"),
                    "min_level": form.get("min_level", "").strip() or None,
                    "min_account_age_seconds": account_age,
                    "min_member_seconds": member_for,
                },
            }
        )
    except ValidationError as error:
        return None, {
            key.removeprefix("requirements."): v for key, v in field_errors(error).items()
        }
    return spec, {}


@blueprint.post("")
@hide
async def create_page(guild_id: int) -> BaseResponse | tuple[str, int]:
    form = await request.form
    session: Session = g.ts_session
    spec, errors = _spec(form, session.user_id)
    if spec is not None:
        try:
            giveaway = await create(guild_id, spec)
        except APIError as refused:
            if refused.status == 402:
                raise
            errors = {"_": [refused.message]}
        else:
            return redirect(
                url_for("giveaways.detail", guild_id=guild_id, giveaway_id=giveaway.id), 303
            )
    values = {key: form.get(key, "") for key in form}
    return await _render_list(guild_id, errors=errors, values=values), 400


def _entries_over_time(times: list[datetime.datetime]) -> list[tuple[str, int]]:
    """Entries per period since the first, in at most 24 periods (for the detail page)."""
    if not times:
        return []
    first, last = min(times), max(times)
    step = max((last - first) / 24, datetime.timedelta(minutes=1))
    counts: dict[int, int] = {}
    for moment in times:
        index = min(int((moment - first) / step), 23)
        counts[index] = counts.get(index, 0) + 1
    return [
        ((first + step * i).strftime("%Y-%m-%d %H:%M"), counts.get(i, 0))
        for i in range(max(counts) + 1)
    ]


@blueprint.get("/<id:giveaway_id>")
@hide
async def detail(guild_id: int, giveaway_id: int) -> str:
    giveaway = await Giveaway.get_or_none(id=giveaway_id, guild_id=guild_id)
    if giveaway is None:
        raise APIError(404, "no_such_giveaway", f"there is no giveaway #{giveaway_id} here")
    picks = await GiveawayPick.filter(giveaway_id=giveaway_id).order_by("position")
    times = await GiveawayEntry.filter(giveaway_id=giveaway_id, active=True).values_list(
        "entered_at", flat=True
    )
    app_state = state()
    count = (
        await entry_count(app_state.require_redis(), app_state.keyspace, giveaway_id)
        if giveaway.state is GiveawayState.RUNNING
        else giveaway.entry_count
    )
    roles = {option.id: option.name for option in await guild_roles(guild_id) or []}
    requirements = Requirements.model_validate(giveaway.requirements)
    return await render_template(
        "giveaways/detail.html",
        user=g.ts_session,
        guild_id=guild_id,
        guild_name=await _guild_name(guild_id),
        giveaway=giveaway,
        count=count,
        requirements=requirements.describe(lambda role_id: roles.get(role_id, str(role_id))),
        slots=slot_summaries(giveaway, picks),
        picks=picks,
        over_time=_entries_over_time([typing.cast("datetime.datetime", t) for t in times]),
        proof=await verify_draw(giveaway),
        now=CLOCK.now(),
    )
