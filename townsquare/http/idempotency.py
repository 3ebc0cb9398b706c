"""`Idempotency-Key` on the internal API's writes: a retried call is answered, not run again.

The shards' client retries a write whose answer it did not get (a timeout, a reset
connection, a 5xx); when the first request was done and only its answer lost, running the
retry again would start a second giveaway. So every write the client sends carries an
`Idempotency-Key` (IETF draft "The Idempotency-Key HTTP Header Field": a structured-field
string, `Idempotency-Key: "..."`), the same on each retry of one call, and the service keeps,
per key, the request's fingerprint and then its answer:

- the first request with a key claims it (`SET NX`) before the handler runs, and stores the
  answer (status, body) when it has one; a 5xx answer gives the key up again (the client
  retries those, and a retry must be able to run);
- a request whose key holds an answer with the same fingerprint (method, path, query, body)
  gets that answer again, the handler not run;
- a key still claimed by a request that has not answered: 409 `idempotency_key_in_use` (the
  client retries it after its backoff);
- a key reused for another request (another body or route): 422 `idempotency_key_reused`;
- a malformed key: 400 `invalid_idempotency_key`.

A write without the header runs as before (a request from an older shard process keeps
working during a rolling upgrade). Keys live in Redis (`idempotency_key`, one day). Claiming
first makes it at-most-once: a service killed between a write and its stored answer leaves
the key claimed, so the call's retries answer 409 until the client gives up ("the service is
unavailable"), and the write is never run twice.
"""

from __future__ import annotations

import hashlib
import json
import re
import typing

import structlog
from quart import Response, g, request

from townsquare.core.commands_api import IDEMPOTENCY_HEADER, KEY_IN_USE
from townsquare.core.redis_health import REDIS_FAILURES
from townsquare.http.errors import APIError
from townsquare.http.state import state

__all__ = ["KEY_MAX_LENGTH", "answer_again_or_claim", "store_answer"]

KEY_MAX_LENGTH: typing.Final = 255
"""The longest key accepted (characters between the quotes)."""

# An RFC 8941 sf-string: printable ASCII between double quotes, `"` and `\` escaped.
_SF_STRING: typing.Final = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
_ESCAPE: typing.Final = re.compile(r'\\(["\\])')
_CLAIM: typing.Final = "townsquare.idempotency_claim"
_WRITES: typing.Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})

log = structlog.get_logger(__name__)


def _parse_key(raw: str) -> str:
    match = _SF_STRING.fullmatch(raw.strip())
    key = _ESCAPE.sub(r"\1", match.group(1)) if match else ""
    if not key or len(key) > KEY_MAX_LENGTH:
        raise APIError(
            400,
            "invalid_idempotency_key",
            f"{IDEMPOTENCY_HEADER} must be a quoted string of 1 to {KEY_MAX_LENGTH} printable "
            'ASCII characters, e.g. "8e03978e-40d5-43e8-bc93-6894a57f9324"',
        )
    return key


async def _fingerprint() -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.query_string.decode("latin-1")):
        digest.update(part.encode() + b"\0")
    body = await request.get_data(as_text=False)
    digest.update(body if isinstance(body, bytes) else body.encode())
    return digest.hexdigest()


async def answer_again_or_claim() -> Response | None:
    """Before a write's handler: the stored answer, a refusal, or the key claimed (None)."""
    raw = request.headers.get(IDEMPOTENCY_HEADER)
    if raw is None or request.method not in _WRITES:
        return None
    key = _parse_key(raw)
    fingerprint = await _fingerprint()
    app_state = state()
    redis = app_state.require_redis()
    redis_key = app_state.keyspace.key("idempotency_key", key)
    ttl = app_state.keyspace.ttl("idempotency_key")
    claimed = await redis.set(redis_key, json.dumps({"fingerprint": fingerprint}), nx=True, ex=ttl)
    if claimed:
        g.setdefault(_CLAIM, redis_key)
        return None
    stored = await redis.get(redis_key)
    record = json.loads(stored) if stored is not None else {}
    if stored is not None and record.get("fingerprint") != fingerprint:
        raise APIError(
            422,
            "idempotency_key_reused",
            f"this {IDEMPOTENCY_HEADER} was already used for a different request",
        )
    if "status" not in record:  # still running (or it lapsed this instant: retry either way)
        raise APIError(
            409,
            KEY_IN_USE,
            f"a request with this {IDEMPOTENCY_HEADER} is still being processed; retry shortly",
        )
    log.info("http.idempotent_replay", path=request.path, status=record["status"])
    return Response(
        record["body"], status=int(record["status"]), content_type=record["content_type"]
    )


async def store_answer(response: Response) -> Response:
    """After a write's handler: keep its answer for the key it claimed (a 5xx frees the key)."""
    redis_key = g.pop(_CLAIM, None)
    if redis_key is None:
        return response
    app_state = state()
    redis = app_state.require_redis()
    try:
        if response.status_code >= 500:
            await redis.delete(redis_key)
            return response
        body = await response.get_data(as_text=True)
        fingerprint = await _fingerprint()
        record = {
            "fingerprint": fingerprint,
            "status": response.status_code,
            "content_type": response.content_type,
            "body": body,
        }
        ttl = app_state.keyspace.ttl("idempotency_key")
        await redis.set(redis_key, json.dumps(record), ex=ttl)
    except REDIS_FAILURES:
        # The write is done: answer it. The key stays claimed, so a retry answers 409, never
        # runs the write again.
        log.warning("http.idempotency_store_failed", path=request.path, exc_info=True)
    return response
