"""Webhook signatures and freshness, against the platforms' documented examples where they
exist, vectors computed outside Python (openssl) with the documented constructions, and Kick's
published public key.

What the documentation gives, precisely:
- Twitch (dev.twitch.tv/docs/eventsub/handling-webhook-events, "List of request headers"): an
  example delivery (message id `e76c6bd4-55c9-4987-8304-da1588d8988b`, timestamp
  `2019-11-16T10:11:12.123Z`, the `webhook_callback_verification` body of a `channel.follow`
  subscription) whose `Twitch-Eventsub-Message-Signature` is shown as
  `sha256=f56bf6ce06a1adf46fa27831d7d15d`: 30 hex digits, not a whole SHA-256, and no secret
  is given, so no documented expected signature can be checked. The example's headers and body
  are checked here with the secret `s3cRe7` and the signature
  `sha256=7e5a9648...d227` that an independent client (nicklaw5/helix, eventsub_test.go) and
  `openssl dgst -sha256 -hmac` both compute for them, and against twitch-cli's construction
  (internal/events/trigger/forward_event.go: HMAC-SHA256 over the id, then the timestamp,
  then the body, sent as `sha256=%x`).
- Kick (docs.kick.com, "Webhook Security"): the public key (PEM, below, verbatim) and the
  construction `fmt.Sprintf("%s.%s.%s", messageID, timestamp, body)`, but no signed delivery:
  without Kick's private key no positive example exists, so a delivery signed by another key
  must be refused under Kick's key, and the construction is checked with a key of ours.
- YouTube (the WebSub recommendation, "Authenticated Content Distribution"): the construction
  only (`sha1=` + hex HMAC-SHA1 of the body), no example; an openssl vector.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import typing

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from townsquare.features.streams.domain.verify import (
    Signed,
    WebhookRefused,
    check_fresh,
    kick_signed_text,
    load_kick_key,
    twitch_signature,
    verify_kick,
    verify_twitch,
    verify_youtube,
    youtube_signature,
)

SECRET = b"a-secret-of-ten-plus"
MESSAGE_ID = "msg-1"
TIMESTAMP = "2026-12-02T14:00:00.123456789Z"
BODY = b'{"a":1}'
# printf 'msg-1''2026-12-02T14:00:00.123456789Z''{"a":1}' | openssl dgst -sha256 -hmac '...'
TWITCH_VECTOR = "sha256=9d2bc0e28202d889716c1b48cf419cf3f867f983d3a5dc5adc2a3b2b252d9ec0"
# printf '<feed/>' | openssl dgst -sha1 -hmac 'websub-secret'
YOUTUBE_VECTOR = "sha1=1100a088d83ac1e1d1a8f9b86c3762214e85abb7"
NOW = datetime.datetime(2026, 12, 2, 14, 1, tzinfo=datetime.UTC)

# Twitch's documented example delivery (handling-webhook-events, "List of request headers").
DOC_MESSAGE_ID = "e76c6bd4-55c9-4987-8304-da1588d8988b"
DOC_TIMESTAMP = "2019-11-16T10:11:12.123Z"
DOC_BODY = (
    b'{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":'
    b'"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"webhook_callback_verification_pending",'
    b'"type":"channel.follow","version":"1","condition":{"broadcaster_user_id":"12826"},'
    b'"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},'
    b'"created_at":"2019-11-16T10:11:12.123Z"}}'
)
DOC_SIGNATURE_SHOWN = "sha256=f56bf6ce06a1adf46fa27831d7d15d"
"""The signature Twitch's page shows: truncated (30 hex digits), with no secret."""
DOC_SECRET = b"s3cRe7"
DOC_VECTOR = "sha256=7e5a96480c29cdf834b371e7a5b049638cba6e425ea51b9b2a9fabf69bc5d227"
"""nicklaw5/helix's vector for the example; `openssl dgst -sha256 -hmac s3cRe7` agrees."""
DOC_NOW = datetime.datetime(2019, 11, 16, 10, 12, tzinfo=datetime.UTC)

# Kick's public key as docs.kick.com ("Webhook Security") publishes it.
KICK_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAq/+l1WnlRrGSolDMA+A8
6rAhMbQGmQ2SapVcGM3zq8ANXjnhDWocMqfWcTd95btDydITa10kDvHzw9WQOqp2
MZI7ZyrfzJuz5nhTPCiJwTwnEtWft7nV14BYRDHvlfqPUaZ+1KR4OCaO/wWIk/rQ
L/TjY0M70gse8rlBkbo2a8rKhu69RQTRsoaf4DVhDPEeSeI5jVrRDGAMGL3cGuyY
6CLKGdjVEM78g3JfYOvDU/RvfqD7L89TZ3iN94jrmWdGz34JNlEI5hqK8dd7C5EF
BEbZ5jgB8s8ReQV8H+MkuffjdAj3ajDDX3DOJMIut1lBrUVD1AaSrGCKHooWoL2e
twIDAQAB
-----END PUBLIC KEY-----
"""


def _twitch(now: datetime.datetime = NOW, **changes: typing.Any) -> None:
    delivery = Signed(MESSAGE_ID, TIMESTAMP, TWITCH_VECTOR, BODY)._replace(**changes)
    verify_twitch(SECRET, delivery, now)


def _refusal(call: object, **changes: object) -> WebhookRefused:
    with pytest.raises(WebhookRefused) as refused:
        call(**changes)  # type: ignore[operator]
    return refused.value


def test_twitch_signature_is_the_documented_hmac_of_id_timestamp_and_body() -> None:
    assert twitch_signature(SECRET, MESSAGE_ID, TIMESTAMP, BODY) == TWITCH_VECTOR
    _twitch()  # accepted
    _twitch(signature=TWITCH_VECTOR.upper().replace("SHA256", "sha256"))  # hex case ignored


def test_twitch_documented_example_delivery() -> None:
    """Twitch's example headers and body: with the secret `s3cRe7`, the signature computed
    elsewhere is accepted; the truncated one the page shows is refused (as any would be)."""
    assert twitch_signature(DOC_SECRET, DOC_MESSAGE_ID, DOC_TIMESTAMP, DOC_BODY) == DOC_VECTOR
    example = Signed(DOC_MESSAGE_ID, DOC_TIMESTAMP, DOC_VECTOR, DOC_BODY)
    verify_twitch(DOC_SECRET, example, DOC_NOW)
    shown = example._replace(signature=DOC_SIGNATURE_SHOWN)
    with pytest.raises(WebhookRefused) as refused:
        verify_twitch(DOC_SECRET, shown, DOC_NOW)
    assert refused.value.code == "bad_signature"
    # The example is from 2019: at any real time it is refused as stale, signature or not.
    with pytest.raises(WebhookRefused) as stale:
        verify_twitch(DOC_SECRET, example, NOW)
    assert stale.value.code == "stale_timestamp"


def _twitch_cli_signature(secret: bytes, message_id: str, timestamp: str, body: bytes) -> str:
    """twitch-cli's getSignatureHeader: the mac is fed the id followed by the timestamp
    re-formatted as Go's RFC3339Nano (the header's own text when it is already in that form,
    as twitch-cli writes it), then the body; the header is `sha256=%x`."""
    mac = hmac.new(secret, digestmod=hashlib.sha256)
    mac.update(message_id.encode() + timestamp.encode())
    mac.update(body)
    return f"sha256={mac.hexdigest()}"


@pytest.mark.parametrize(
    ("message_id", "timestamp", "body"),
    [
        (DOC_MESSAGE_ID, DOC_TIMESTAMP, DOC_BODY),
        # twitch-cli's own shapes: a uuid id, a nanosecond timestamp, a stream.online body.
        (
            "7f6e1b9a-0d43-4b0f-9c0a-2b8f1e1d3c55",
            "2026-12-02T14:00:59.123456789Z",
            b'{"subscription":{"type":"stream.online"},"event":{"type":"live"}}',
        ),
    ],
)
def test_twitch_signature_matches_twitch_clis_construction(
    message_id: str, timestamp: str, body: bytes
) -> None:
    expected = _twitch_cli_signature(b"potaytoes-secret", message_id, timestamp, body)
    assert twitch_signature(b"potaytoes-secret", message_id, timestamp, body) == expected


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"signature": None}, "missing_signature"),
        ({"message_id": ""}, "missing_signature"),
        ({"body": b'{"a":2}'}, "bad_signature"),
        ({"message_id": "msg-2"}, "bad_signature"),
        ({"signature": "sha256=" + "0" * 64}, "bad_signature"),
        ({"now": NOW + datetime.timedelta(minutes=11)}, "stale_timestamp"),
        ({"now": NOW - datetime.timedelta(minutes=5)}, "future_timestamp"),
    ],
)
def test_twitch_refusals_are_403_with_their_reason(changes: dict[str, object], code: str) -> None:
    refused = _refusal(_twitch, **changes)
    assert (refused.status, refused.code) == (403, code)
    assert SECRET.decode() not in refused.reason


def test_a_timestamp_that_is_not_rfc3339_is_refused() -> None:
    with pytest.raises(WebhookRefused) as refused:
        check_fresh("yesterday", NOW)
    assert refused.value.code == "bad_timestamp"
    assert check_fresh("2026-12-02T14:00:30+00:00", NOW).second == 30


def test_youtube_signature_is_the_hmac_sha1_of_the_body() -> None:
    assert youtube_signature(b"websub-secret", b"<feed/>") == YOUTUBE_VECTOR
    verify_youtube(b"websub-secret", signature=YOUTUBE_VECTOR, body=b"<feed/>")
    for signature in (None, "sha1=" + "0" * 40, "sha256=" + YOUTUBE_VECTOR[5:], "garbage"):
        with pytest.raises(WebhookRefused) as refused:
            verify_youtube(b"websub-secret", signature=signature, body=b"<feed/>")
        assert refused.value.status == 403


def test_kicks_published_public_key_is_read_and_refuses_other_signers() -> None:
    """Kick's documented key: a 2048-bit RSA key (e = 65537) that `load_kick_key` reads. Kick
    publishes no signed example, so the positive case below uses a key of ours; here a
    delivery signed by any other key is refused under Kick's."""
    key = load_kick_key(KICK_PUBLIC_KEY)
    assert key.key_size == 2048
    assert key.public_numbers().e == 65537
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stamp = "2026-12-02T14:00:00Z"
    body = b'{"broadcaster":{"user_id":123456789,"channel_slug":"john_doe"},"is_live":true}'
    signed = kick_signed_text("01HZX0000000000000000000ID", stamp, body)
    forged = base64.b64encode(forger.sign(signed, padding.PKCS1v15(), hashes.SHA256())).decode()
    with pytest.raises(WebhookRefused) as refused:
        verify_kick(key, Signed("01HZX0000000000000000000ID", stamp, forged, body), NOW)
    assert (refused.value.status, refused.value.code) == (403, "bad_signature")


def test_kick_signed_text_is_the_documented_go_format() -> None:
    """docs.kick.com: `fmt.Sprintf("%s.%s.%s", messageID, timestamp, body)`."""
    message_id, stamp, body = "01HZX", "2026-12-02T14:00:00Z", b'{"a":"b.c"}'
    go_format = f"{message_id}.{stamp}.{body.decode()}".encode()
    assert kick_signed_text(message_id, stamp, body) == go_format


def test_kick_signature_is_rsa_pkcs1v15_sha256_of_id_timestamp_body() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key = load_kick_key(pem.decode())
    stamp = "2026-12-02T14:00:00Z"
    signed = f"01HZX.{stamp}.".encode() + BODY
    signature = base64.b64encode(private.sign(signed, padding.PKCS1v15(), hashes.SHA256())).decode()
    delivery = Signed("01HZX", stamp, signature, BODY)
    verify_kick(key, delivery, NOW)
    for changes, code in (
        ({"body": b'{"a":2}'}, "bad_signature"),
        ({"message_id": "01HZY"}, "bad_signature"),
        ({"signature": "not base64!"}, "bad_signature"),
        ({"signature": None}, "missing_signature"),
    ):
        with pytest.raises(WebhookRefused) as refused:
            verify_kick(key, delivery._replace(**changes), NOW)
        assert (refused.value.status, refused.value.code) == (403, code)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(WebhookRefused):
        verify_kick(other, delivery, NOW)
    with pytest.raises(ValueError, match="RSA"):
        load_kick_key(_ec_pem())


def _ec_pem() -> bytes:
    from cryptography.hazmat.primitives.asymmetric import ec

    return (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
