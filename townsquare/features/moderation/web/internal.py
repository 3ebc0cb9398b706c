"""`/internal/v1` moderation routes: what the slash commands ask for (flow 2).

Behind the service token. Every action goes through the kernel's guard (via the domain's
`enforce`), which decides with the actor's own roles and permissions read from Discord: the
shard passes who asked, never whether they may.
"""

from __future__ import annotations

import datetime
import typing

from quart import request
from quart_schema import hide, validate_request

from townsquare.core.audit.models import ActorKind as AuditActorKind
from townsquare.core.audit.service import Actor as AuditActor
from townsquare.core.guard.actions import Action, ActionRequest, ActorKind, Source
from townsquare.core.guard.models import Case
from townsquare.features.moderation.domain import cases
from townsquare.features.moderation.domain.config import ModerationSection
from townsquare.features.moderation.domain.enforce import Enforced, enforce
from townsquare.features.moderation.domain.pardon import NothingToPardonError, pardon_case
from townsquare.features.moderation.domain.wire import (
    ActionBody,
    ActionDone,
    CaseBody,
    CasePage,
    CaseReason,
    PardonBody,
    StepDone,
)
from townsquare.features.moderation.web.rest import close_on_stop, guard_context
from townsquare.http.blueprints import internal_blueprint
from townsquare.http.config_changes import read_config
from townsquare.http.errors import APIError

__all__ = ["blueprint", "case_body"]

blueprint = internal_blueprint("moderation_internal", __name__)
close_on_stop(blueprint)


async def _section(guild_id: int) -> ModerationSection:
    return (await read_config(guild_id)).config.section(ModerationSection)


def case_body(case: Case) -> CaseBody:
    return CaseBody(
        number=case.number,
        action=case.action,
        source=case.source,
        status=case.status,
        detail=case.detail,
        actor_id=case.actor_id,
        actor_name=case.actor_name,
        target_id=case.target_id,
        target_name=case.target_name,
        reason=case.reason,
        points=case.points,
        pardoned=case.pardoned,
        expires_at=case.expires_at,
        occurred_at=case.occurred_at,
        message_link=case.message_link,
        content=case.content,
        dm_status=case.dm_status,
    )


def _request(guild_id: int, body: ActionBody, section: ModerationSection) -> ActionRequest:
    action = Action(body.action)
    if action in {Action.TIMEOUT, Action.PURGE} and not (body.duration_seconds or body.purge_count):
        raise APIError(400, "invalid_body", f"{action.value} needs a duration or a count")
    if action is Action.PURGE and body.channel_id is None:
        raise APIError(400, "invalid_body", "purge needs a channel_id")
    if action is Action.TIMEOUT and (body.duration_seconds or 0) > 28 * 86_400:
        raise APIError(400, "invalid_body", "a timeout lasts at most 28 days")
    return ActionRequest(
        guild_id=guild_id,
        action=action,
        target_id=body.target_id,
        key=body.key,
        source=Source.COMMAND,
        actor_kind=ActorKind.USER,
        actor_id=body.actor_id,
        actor_name=body.actor_name,
        reason=body.reason,
        occurred_at=datetime.datetime.now(datetime.UTC),
        duration_seconds=body.duration_seconds,
        delete_message_seconds=body.delete_message_seconds,
        channel_id=body.channel_id,
        points=section.warn_points if action is Action.WARN else 0,
        purge_count=body.purge_count,
    )


@blueprint.post("/guilds/<id:guild_id>/moderation/actions")
@hide
@validate_request(ActionBody)
async def take_action(guild_id: int, data: ActionBody) -> dict[str, typing.Any]:
    section = await _section(guild_id)
    context = await guard_context(section)
    enforced = await enforce(_request(guild_id, data, section), context, section)
    return (await _done(guild_id, enforced)).model_dump(mode="json")


async def _done(guild_id: int, enforced: Enforced) -> ActionDone:
    outcome, step = enforced.outcome, enforced.escalation
    return ActionDone(
        case=outcome.case_number,
        status=outcome.status.value,
        detail=outcome.detail,
        dm_status=outcome.dm_status.value,
        expires_at=outcome.expires_at,
        repeated=outcome.repeated,
        points=enforced.active_points,
        escalation=None
        if step is None
        else StepDone(
            case=step.case_number,
            status=step.status.value,
            detail=step.detail,
            action=(await Case.get(guild_id=guild_id, number=step.case_number)).action,
        ),
    )


@blueprint.post("/guilds/<id:guild_id>/moderation/cases/<int:number>/pardon")
@hide
@validate_request(PardonBody)
async def pardon(guild_id: int, number: int, data: PardonBody) -> dict[str, typing.Any]:
    """A pardon is an action (the guard checks the actor); then the case stops counting."""
    section = await _section(guild_id)
    try:
        enforced = await pardon_case(
            await guard_context(section),
            section,
            guild_id,
            number,
            source=Source.COMMAND,
            actor=(data.actor_id, data.actor_name),
            key=data.key,
            reason=data.reason,
        )
    except cases.CaseNotFoundError as error:
        raise APIError(404, "case_not_found", str(error)) from None
    except NothingToPardonError as error:
        raise APIError(409, "nothing_to_pardon", str(error)) from None
    return (await _done(guild_id, enforced)).model_dump(mode="json")


def _page_arg() -> int:
    raw = request.args.get("page", "1")
    if not raw.isdecimal() or not 1 <= int(raw) <= 100_000:
        raise APIError(400, "invalid_query", "bad page", {"page": ["a whole number from 1"]})
    return int(raw)


@blueprint.get("/guilds/<id:guild_id>/moderation/members/<id:user_id>/cases")
@hide
async def member_cases(guild_id: int, user_id: int) -> dict[str, typing.Any]:
    page = _page_arg()
    rows, pages = await cases.list_cases(guild_id, cases.CaseFilter(target_id=user_id), page)
    return CasePage(page=page, pages=pages, cases=[case_body(c) for c in rows]).model_dump(
        mode="json"
    )


@blueprint.get("/guilds/<id:guild_id>/moderation/cases/<int:number>")
@hide
async def one_case(guild_id: int, number: int) -> dict[str, typing.Any]:
    try:
        case = await cases.find_case(guild_id, number)
    except cases.CaseNotFoundError as error:
        raise APIError(404, "case_not_found", str(error)) from None
    return case_body(case).model_dump(mode="json")


@blueprint.patch("/guilds/<id:guild_id>/moderation/cases/<int:number>")
@hide
@validate_request(CaseReason)
async def case_reason(guild_id: int, number: int, data: CaseReason) -> dict[str, typing.Any]:
    actor = AuditActor(AuditActorKind.USER, data.actor_id, data.actor_name)
    try:
        case = await cases.edit_reason(guild_id, number, data.reason, actor)
    except cases.CaseNotFoundError as error:
        raise APIError(404, "case_not_found", str(error)) from None
    return case_body(case).model_dump(mode="json")
