"""The assistant's HTTP side: the knowledge-base page (documents written, pasted or uploaded;
edited and deleted), the "try it" box, the assistant's settings page, and the public page of
a document that citations link to.

Dashboard pages are authorized like every guild page (the manager check and the CSRF token
come with :func:`~townsquare.http.blueprints.dashboard_blueprint`). The "try it" box runs the
same path as a member's question (flow 7), as the signed-in manager, in no channel (so the
channel and role limits do not apply; the rate limits and the budget do).
"""

from __future__ import annotations

import typing

import redis.exceptions
import structlog
from quart import Blueprint, abort, g, redirect, render_template, request, url_for
from quart_schema import hide

from townsquare.core.guilds.models import Guild
from townsquare.features.assistant.domain.ask import Asked
from townsquare.features.assistant.domain.budget import Budget
from townsquare.features.assistant.domain.config import AISection
from townsquare.features.assistant.domain.jobs import queue_embedding
from townsquare.features.assistant.domain.knowledge import (
    DocumentError,
    DocumentInput,
    counted_documents,
    create_document,
    delete_document,
    update_document,
)
from townsquare.features.assistant.domain.models import KnowledgeDocument
from townsquare.features.assistant.domain.service import assistant_for
from townsquare.http.access import managed_guild
from townsquare.http.blueprints import dashboard_blueprint
from townsquare.http.config_changes import read_config
from townsquare.http.config_forms import ConfigPage, FormField, GuildLink
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from werkzeug.wrappers.response import Response as BaseResponse

    from townsquare.features.assistant.domain.ask import Outcome
    from townsquare.http.access import Session

__all__ = ["AI_PAGE", "BLUEPRINTS", "GUILD_LINKS", "PAGES"]

blueprint = dashboard_blueprint(
    "assistant", __name__, url_prefix="/dashboard/guilds/<id:guild_id>/knowledge"
)
public = Blueprint("knowledge_public", __name__, url_prefix="/knowledge")

UPLOAD_SUFFIXES: typing.Final = (".md", ".txt", ".markdown")
MAX_QUESTION_CHARACTERS: typing.Final = 1000


def _budget() -> Budget:
    app_state = state()
    return Budget(app_state.require_gate(), app_state.settings.http.public_url)


async def _render(
    guild_id: int,
    *,
    errors: list[str] | None = None,
    notice: str = "",
    title: str = "",
    body: str = "",
    question: str = "",
    outcome: Outcome | None = None,
) -> str:
    session: Session = g.ts_session
    guild = await managed_guild(session, guild_id)
    documents = await KnowledgeDocument.filter(guild_id=guild_id).order_by("created_at", "id")
    limit = await _budget().documents_searched(guild_id)
    return await render_template(
        "assistant/knowledge.html",
        user=session,
        guild_id=guild_id,
        guild_name=guild.name if guild else str(guild_id),
        documents=[d for d in documents if d.source != "message"],
        messages_indexed=sum(1 for d in documents if d.source == "message"),
        documents_limit=limit,
        errors=errors or [],
        notice=notice,
        title=title,
        body=body,
        question=question,
        outcome=outcome,
    )


@blueprint.get("")
@hide
async def show(guild_id: int) -> str:
    notices = {"deleted": "Document deleted.", "saved": "Document saved."}
    return await _render(guild_id, notice=notices.get(request.args.get("done", ""), ""))


_log = structlog.get_logger(__name__)


async def _embed_soon() -> None:
    """Ask a worker to embed the passages just written; with Redis unreachable, the
    embedding job's minute schedule does it (full text finds them meanwhile)."""
    app_state = state()
    try:
        await queue_embedding(app_state.require_redis(), app_state.keyspace)
    except redis.exceptions.RedisError as error:
        _log.warning("assistant.embedding_not_queued", error=repr(error))


async def _submitted() -> DocumentInput:
    form = await request.form
    files = await request.files
    upload = files.get("file")
    title, body = form.get("title", ""), form.get("body", "")
    if upload is not None and upload.filename:
        name = upload.filename
        if not name.lower().endswith(UPLOAD_SUFFIXES):
            raise DocumentError("upload a .md or .txt file")
        try:
            body = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise DocumentError("the file is not UTF-8 text") from None
        title = title or name.rsplit(".", 1)[0]
    return DocumentInput(title, body)


@blueprint.post("")
@hide
async def create(guild_id: int) -> BaseResponse | tuple[str, int]:
    form = await request.form
    try:
        given = await _submitted()
        verdict = await _budget().may_add_document(guild_id, await counted_documents(guild_id))
        if not verdict.allowed:
            offer = _budget().offer(guild_id, verdict)
            raise DocumentError(offer.content)
        await create_document(guild_id, given, source="written", created_by=g.ts_session.user_id)
        await _embed_soon()
    except DocumentError as error:
        status = 402 if "allows" in str(error) or "no tier" in str(error) else 400
        return await _render(
            guild_id, errors=[str(error)], title=form.get("title", ""), body=form.get("body", "")
        ), status
    return redirect(url_for("assistant.show", guild_id=guild_id, done="saved"), 303)


async def _document(guild_id: int, document_id: int) -> KnowledgeDocument:
    document = await KnowledgeDocument.get_or_none(id=document_id, guild_id=guild_id)
    if document is None or document.source == "message":
        abort(404)
    return document


@blueprint.get("/<id:document_id>")
@hide
async def edit_form(guild_id: int, document_id: int) -> str:
    document = await _document(guild_id, document_id)
    return await render_template(
        "assistant/document.html",
        user=g.ts_session,
        guild_id=guild_id,
        document=document,
        errors=[],
        title=document.title,
        body=document.body,
    )


@blueprint.post("/<id:document_id>")
@hide
async def edit(guild_id: int, document_id: int) -> BaseResponse | tuple[str, int]:
    document = await _document(guild_id, document_id)
    form = await request.form
    try:
        updated = await update_document(guild_id, document_id, await _submitted())
    except DocumentError as error:
        page = await render_template(
            "assistant/document.html",
            user=g.ts_session,
            guild_id=guild_id,
            document=document,
            errors=[str(error)],
            title=form.get("title", ""),
            body=form.get("body", ""),
        )
        return page, 400
    if updated is None:
        abort(404)
    await _embed_soon()
    return redirect(url_for("assistant.show", guild_id=guild_id, done="saved"), 303)


@blueprint.post("/<id:document_id>/delete")
@hide
async def delete(guild_id: int, document_id: int) -> BaseResponse:
    await _document(guild_id, document_id)
    await delete_document(guild_id, document_id)
    return redirect(url_for("assistant.show", guild_id=guild_id, done="deleted"), 303)


@blueprint.post("/try")
@hide
async def try_it(guild_id: int) -> tuple[str, int]:
    form = await request.form
    question = form.get("question", "").strip()
    if not 2 <= len(question) <= MAX_QUESTION_CHARACTERS:
        errors = [f"ask a question of 2 to {MAX_QUESTION_CHARACTERS} characters"]
        return await _render(guild_id, errors=errors, question=question), 400
    app_state = state()
    assistant = assistant_for(
        app_state.settings, app_state.require_redis(), app_state.keyspace, app_state.require_gate()
    )
    config = (await read_config(guild_id)).config
    guild = await Guild.get_or_none(id=guild_id)
    asked = Asked(
        guild_id,
        None,
        g.ts_session.user_id,
        None,
        question,
        guild_name=guild.name if guild else "",
    )
    outcome = await assistant.answer(asked, config.section(AISection))
    return await _render(guild_id, question=question, outcome=outcome), 200


@public.get("/<id:guild>/<id:document_id>")
@hide
async def public_document(guild: int, document_id: int) -> str:
    """A written document as members read it when an answer cites it (no login: members read
    what the assistant quotes to them anyway; `guild`, not `guild_id`, as in `/public/v1`,
    because no manager's session is asked for)."""
    document = await _document(guild, document_id)
    return await render_template("assistant/public_document.html", document=document)


AI_PAGE: typing.Final = ConfigPage(
    "assistant",
    "Assistant settings",
    "ai",
    (
        FormField(
            "enabled",
            "Answer questions in this server",
            "bool",
            help="Members ask with /ask or by mentioning Townsquare.",
        ),
        FormField(
            "channel_ids",
            "Channels where it answers",
            "channel_list",
            help="None ticked: every channel.",
        ),
        FormField(
            "role_ids",
            "Roles that may ask",
            "role_list",
            help="None ticked: every member may ask.",
        ),
        FormField(
            "requests_per_member_per_hour",
            "Questions per member per hour",
            "int",
            help="A member asking more is told to wait.",
        ),
        FormField(
            "requests_per_guild_per_minute",
            "Questions per server per minute",
            "int",
            help="For the whole server together.",
        ),
        FormField(
            "max_output_tokens",
            "Longest answer (model tokens)",
            "int",
            help="About three quarters of a word each; longer answers are cut.",
        ),
        FormField(
            "knowledge_channel_ids",
            "Channels it learns from",
            "channel_list",
            help="Their messages join the knowledge base, e.g. #rules and #faq.",
        ),
    ),
)

BLUEPRINTS: typing.Final = (blueprint, public)
PAGES: typing.Final = (AI_PAGE,)
GUILD_LINKS: typing.Final = (GuildLink("knowledge", "Knowledge base", "assistant.show"),)
