"""`/webhooks/twitch`, `/webhooks/kick`, `/webhooks/youtube`: the platforms' deliveries.

No session and no token: each delivery proves itself by its signature (docs/streams.md). The
route reads at most :data:`~..domain.webhooks.MAX_WEBHOOK_BYTES` (413 beyond), hands the raw
body to the domain, and answers quickly: the work is queued on the `jobs` pipeline. Every
refusal is logged with its reason (never the secret or a signature) and answered with the
status the platform expects: 403 for a missing, wrong or stale signature, 400 for a body that
does not parse, 404 (YouTube pushes: 410) for a creator nobody follows. A replayed delivery
is answered 204 and queues nothing.
"""

from __future__ import annotations

import datetime
import typing

import structlog
from pydantic import BaseModel, Field
from quart import Blueprint, Response, request
from quart_schema import document_querystring

from townsquare.features.streams.domain.models import Platform
from townsquare.features.streams.domain.platforms.base import EXHAUSTED, PlatformError
from townsquare.features.streams.domain.subscriptions import Platforms
from townsquare.features.streams.domain.verify import WebhookRefused
from townsquare.features.streams.domain.webhooks import (
    FOLLOWED,
    MAX_WEBHOOK_BYTES,
    WEBHOOK_HEADERS,
    Answer,
    WebhookContext,
    on_kick,
    on_twitch,
    on_youtube_push,
    on_youtube_verification,
)
from townsquare.http.errors import APIError
from townsquare.http.openapi import errors, non_json_response
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["blueprint"]

log = structlog.get_logger(__name__)

blueprint = Blueprint("streams_webhooks", __name__, url_prefix="/webhooks")


class HubVerification(BaseModel):
    """The WebSub hub's verification of a subscription we asked for."""

    model_config = {"populate_by_name": True}

    mode: str = Field(alias="hub.mode")
    topic: str = Field(alias="hub.topic")
    challenge: str = Field(alias="hub.challenge")
    lease_seconds: int | None = Field(default=None, alias="hub.lease_seconds")


def _context() -> WebhookContext:
    app_state = state()
    redis = app_state.require_redis()
    platforms = Platforms(
        app_state.settings,
        app_state.require_client(),
        redis,
        app_state.keyspace,
        app_state.caches.get(EXHAUSTED),
    )
    return WebhookContext(
        settings=app_state.settings,
        redis=redis,
        keyspace=app_state.keyspace,
        platforms=platforms,
        now=datetime.datetime.now(datetime.UTC),
        commands=app_state.require_batcher(),
        followed=app_state.caches.get(FOLLOWED),
    )


def _headers() -> dict[str, str]:
    """The headers the platforms sign or name, under their documented names."""
    found = ((name, request.headers.get(name)) for name in WEBHOOK_HEADERS)
    return {name: value for name, value in found if value is not None}


async def _body() -> bytes:
    length = request.content_length
    if length is not None and length > MAX_WEBHOOK_BYTES:
        raise WebhookRefused(413, "body_too_large", f"{length} bytes: more than the webhook limit")
    body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
    assert isinstance(body, bytes)
    if len(body) > MAX_WEBHOOK_BYTES:
        raise WebhookRefused(413, "body_too_large", "more than the webhook limit")
    return body


async def _answer(platform: Platform, work: Callable[[], Awaitable[Answer]]) -> Response:
    try:
        answer = await work()
    except WebhookRefused as refused:
        log.info(
            "streams.webhook_refused",
            platform=platform.value,
            status=refused.status,
            code=refused.code,
            reason=refused.reason,
        )
        raise APIError(refused.status, refused.code, refused.reason) from None
    except PlatformError as error:  # Kick's public key could not be fetched: try again later
        log.warning(
            "streams.webhook_platform_unavailable", platform=platform.value, status=error.status
        )
        raise APIError(
            503, "platform_unavailable", f"{platform.value} could not be asked"
        ) from None
    # Each request has its own log line already: a plain acceptance adds nothing to it (and
    # the hot path of a busy webhook stays one line), anything else says what happened.
    if answer.outcome != "queued":
        log.info("streams.webhook", platform=platform.value, outcome=answer.outcome)
    if answer.text is not None:
        return Response(answer.text, status=answer.status, content_type="text/plain")
    return Response(status=answer.status)


@blueprint.post("/twitch")
@non_json_response(204, "accepted (or a replay, ignored)")
@non_json_response(200, "the verification challenge, echoed", "text/plain")
@errors(400, 403, 404, 413)
async def twitch() -> Response:
    """Twitch EventSub: `Twitch-Eventsub-Message-*` headers, signed JSON."""

    async def work() -> Answer:
        return await on_twitch(_context(), _headers(), await _body())

    return await _answer(Platform.TWITCH, work)


@blueprint.post("/kick")
@non_json_response(204, "accepted (or a replay, ignored)")
@errors(400, 403, 404, 413)
async def kick() -> Response:
    """Kick webhooks: `Kick-Event-*` headers, RSA-signed JSON."""

    async def work() -> Answer:
        return await on_kick(_context(), _headers(), await _body())

    return await _answer(Platform.KICK, work)


@blueprint.get("/youtube")
@document_querystring(HubVerification)
@non_json_response(200, "the hub's challenge, echoed", "text/plain")
@errors(404)
async def youtube_verification() -> Response:
    """The WebSub hub verifying a (un)subscription we asked for; 404 for any other."""

    async def work() -> Answer:
        return await on_youtube_verification(_context(), request.args)

    return await _answer(Platform.YOUTUBE, work)


@blueprint.post("/youtube")
@non_json_response(204, "accepted (or a push seen before, ignored)")
@errors(400, 403, 410, 413)
async def youtube_push() -> Response:
    """The WebSub hub pushing a channel's Atom feed, signed in `X-Hub-Signature`."""

    async def work() -> Answer:
        return await on_youtube_push(_context(), _headers(), await _body())

    return await _answer(Platform.YOUTUBE, work)
