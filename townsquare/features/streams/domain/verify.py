"""Checking that a webhook came from the platform: signatures, freshness, our subscriptions.

Each check raises :class:`WebhookRefused` with the status the platform should see and the
reason we log (never the secret, never the expected signature). Signatures are compared in
constant time (`hmac.compare_digest`).

- Twitch EventSub: `sha256=` + hex HMAC-SHA256(secret, message id + timestamp + raw body) in
  `Twitch-Eventsub-Message-Signature`; a timestamp older than 10 minutes is refused.
- YouTube WebSub: `sha1=` + hex HMAC-SHA1(secret, raw body) in `X-Hub-Signature`.
- Kick: base64 RSA PKCS#1 v1.5 SHA-256 signature of `<message id>.<timestamp>.<raw body>` in
  `Kick-Event-Signature`, checked with Kick's public key.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import re
import typing

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = [
    "MAX_AGE",
    "MAX_FUTURE",
    "Signed",
    "WebhookRefused",
    "check_fresh",
    "kick_signed_text",
    "load_kick_key",
    "parse_timestamp",
    "twitch_signature",
    "verify_kick",
    "verify_twitch",
    "verify_youtube",
    "youtube_signature",
]

MAX_AGE: typing.Final = datetime.timedelta(minutes=10)
"""Older deliveries are refused (Twitch's documented window; Kick has none, we use the same)."""
MAX_FUTURE: typing.Final = datetime.timedelta(minutes=1)
"""Clock skew tolerated the other way."""

_FRACTION = re.compile(r"\.(\d{1,6})\d*")


class WebhookRefused(Exception):
    """A delivery we do not accept: `status` for the platform, `reason` for our log."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason


def parse_timestamp(text: str) -> datetime.datetime:
    """An RFC 3339 time (Twitch sends nanoseconds; Python reads microseconds)."""
    try:
        value = datetime.datetime.fromisoformat(_FRACTION.sub(r".\1", text.strip(), count=1))
    except ValueError:
        raise WebhookRefused(403, "bad_timestamp", "the timestamp is not RFC 3339") from None
    if value.tzinfo is None:
        raise WebhookRefused(403, "bad_timestamp", "the timestamp has no time zone")
    return value


def check_fresh(timestamp: str, now: datetime.datetime) -> datetime.datetime:
    """The delivery's time, if within :data:`MAX_AGE` (and not far in the future)."""
    sent = parse_timestamp(timestamp)
    if now - sent > MAX_AGE:
        raise WebhookRefused(403, "stale_timestamp", f"sent at {sent.isoformat()}: too old")
    if sent - now > MAX_FUTURE:
        raise WebhookRefused(403, "future_timestamp", f"sent at {sent.isoformat()}: ahead")
    return sent


def twitch_signature(secret: bytes, message_id: str, timestamp: str, body: bytes) -> str:
    """The `Twitch-Eventsub-Message-Signature` Twitch computes for this delivery."""
    digest = hmac.new(secret, message_id.encode() + timestamp.encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class Signed(typing.NamedTuple):
    """A delivery as signed: its message id, timestamp and signature headers, and its body."""

    message_id: str | None
    timestamp: str | None
    signature: str | None
    body: bytes

    def parts(self, headers: str) -> tuple[str, str, str]:
        """The three headers; 403 when one is missing (`headers` names them for the log)."""
        if not self.message_id or not self.timestamp or not self.signature:
            raise WebhookRefused(403, "missing_signature", f"a {headers} header is missing")
        return self.message_id, self.timestamp, self.signature


def verify_twitch(secret: bytes, delivery: Signed, now: datetime.datetime) -> None:
    """Refuse (403) a Twitch delivery whose signature is missing or wrong, or that is stale."""
    message_id, timestamp, signature = delivery.parts("Twitch-Eventsub-Message-*")
    expected = twitch_signature(secret, message_id, timestamp, delivery.body)
    if not hmac.compare_digest(signature.strip().lower().encode(), expected.encode()):
        raise WebhookRefused(403, "bad_signature", "the signature does not match the body")
    check_fresh(timestamp, now)


def youtube_signature(secret: bytes, body: bytes) -> str:
    """The `X-Hub-Signature` a WebSub hub computes for this body (`hub.secret` = `secret`)."""
    return "sha1=" + hmac.new(secret, body, hashlib.sha1).hexdigest()


def verify_youtube(secret: bytes, *, signature: str | None, body: bytes) -> None:
    """Refuse (403) a WebSub push whose `X-Hub-Signature` is missing or wrong."""
    if not signature:
        raise WebhookRefused(403, "missing_signature", "X-Hub-Signature is missing")
    method, _, presented = signature.strip().partition("=")
    if method.lower() != "sha1":
        raise WebhookRefused(403, "bad_signature", f"unsupported signature method {method[:10]!r}")
    expected = hmac.new(secret, body, hashlib.sha1).hexdigest()
    if not hmac.compare_digest(presented.lower().encode(), expected.encode()):
        raise WebhookRefused(403, "bad_signature", "the signature does not match the body")


def kick_signed_text(message_id: str, timestamp: str, body: bytes) -> bytes:
    """What Kick signs: `<message id>.<timestamp>.<raw body>`."""
    return message_id.encode() + b"." + timestamp.encode() + b"." + body


def load_kick_key(pem: str | bytes) -> rsa.RSAPublicKey:
    """Kick's public key from its PEM text; a ValueError for anything else."""
    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("Kick's public key is not an RSA key")
    return key


def verify_kick(key: rsa.RSAPublicKey, delivery: Signed, now: datetime.datetime) -> None:
    """Refuse (403) a Kick delivery whose signature is missing or wrong, or that is stale."""
    message_id, timestamp, signature = delivery.parts("Kick-Event-*")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRefused(403, "bad_signature", "the signature is not base64") from None
    signed = kick_signed_text(message_id, timestamp, delivery.body)
    try:
        key.verify(raw, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise WebhookRefused(
            403, "bad_signature", "the signature does not match the body"
        ) from None
    check_fresh(timestamp, now)
